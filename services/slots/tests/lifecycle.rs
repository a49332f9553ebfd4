//! One test per rule of the slot's lifecycle, driven through the public event API.

use tileos_slots::{
    Answered, Comparator, Delivery, ExactOnly, InstallRefusal, ModuleId, NotApplicable, ORIGINAL_INCUMBENT, Outcome, PromoteMode,
    PromoteRefusal, PromotedBy, Ratio, Reason, RequestId, Responder, RollbackRefusal, Shortfall, Slot, SlotPolicy, State, Transition, Trip,
};

/// A policy small enough to drive by hand: 3 agreeing answers, no soak, 10 µs deadline,
/// a window of 1,000 µs, latency judged after 2 answers, a promoted module hung after
/// 100 µs unanswered.
fn policy() -> SlotPolicy {
    SlotPolicy {
        min_agreeing: 3,
        min_soak: 0,
        answer_deadline: 10,
        rollback_window: 1000,
        breaker_latency_samples: 2,
        breaker_unanswered: 100,
        ..SlotPolicy::default()
    }
}

fn slot(policy: SlotPolicy) -> Slot<ExactOnly> {
    Slot::new(policy, Comparator::Exact, ExactOnly, 0).unwrap()
}

/// Installs and starts a challenger.
fn challenger(s: &mut Slot<ExactOnly>, now: u64) -> ModuleId {
    let id = s.install(now).unwrap();
    let out = s.started(id, now).unwrap();
    assert_eq!(out.transitions[0].reason, Reason::Started);
    id
}

/// One request at `now`: the serving module answers `served` after 1 µs, each mirrored module
/// answers `mirrored` after 1 µs. Returns every outcome's transitions.
fn round(s: &mut Slot<ExactOnly>, now: u64, served: &[u8], mirrored: &[u8]) -> Vec<Transition> {
    let m = s.request(now);
    let copies = s.mirrored().to_vec();
    assert_eq!(m.copies, copies.len());
    let (answered, out) = s.answer(m.request, Responder::Module(m.serve), served, now + 1);
    assert_eq!(answered, Answered::Deliver);
    let mut transitions = out.transitions;
    for &id in &copies {
        let (_, out) = s.answer(m.request, Responder::Module(id), mirrored, now + 1);
        transitions.extend(out.transitions);
    }
    transitions
}

fn moves(ts: &[Transition]) -> Vec<(ModuleId, State, State)> {
    ts.iter().map(|t| (t.module, t.from, t.to)).collect()
}

#[test]
fn a_good_challenger_is_promoted_by_the_policy_and_the_incumbent_goes_warm() {
    let mut s = slot(policy());
    let c = challenger(&mut s, 0);
    assert!(round(&mut s, 1, b"ok", b"ok").is_empty());
    assert!(round(&mut s, 2, b"ok", b"ok").is_empty());
    let ts = round(&mut s, 3, b"ok", b"ok");
    assert_eq!(
        moves(&ts),
        [
            (c, State::Shadowing, State::Promotable),
            (ORIGINAL_INCUMBENT, State::Settled, State::Warm),
            (c, State::Promotable, State::Promoted)
        ]
    );
    assert_eq!(ts[2].reason, Reason::Promoted(PromotedBy::Policy));
    assert_eq!(ts[2].evidence.agreeing, 3, "the transition carries the evidence it was promoted on");
    assert_eq!((s.serving(), s.warm()), (c, Some(ORIGINAL_INCUMBENT)));
    assert_eq!(s.request(4).copies, 1);
    assert_eq!(s.mirrored(), [ORIGINAL_INCUMBENT], "the warm incumbent gets the copies");
}

#[test]
fn without_enough_soak_a_challenger_waits_and_the_clock_promotes_it() {
    let mut s = slot(SlotPolicy { min_soak: 100, ..policy() });
    let c = challenger(&mut s, 0);
    for now in 1..=5 {
        assert!(round(&mut s, now, b"ok", b"ok").is_empty());
    }
    let refusal = s.promote(c, PromoteMode::IfEvidenceSuffices, 50).unwrap_err();
    assert_eq!(refusal, PromoteRefusal::Insufficient(Shortfall::SoakTooShort { soaked: 50, needed: 100 }));
    assert!(s.tick(99).transitions.is_empty());
    assert_eq!(s.tick(100).transitions.last().map(|t| t.to), Some(State::Promoted));
}

#[test]
fn a_soak_that_ends_between_events_is_judged_at_the_next_serving_answer() {
    // Two challengers; `a` has its evidence at once, `b` (installed later) soaks on.
    let mut s = slot(SlotPolicy { min_soak: 100, max_challengers: 2, auto_promote: false, answer_deadline: 100, ..policy() });
    let a = challenger(&mut s, 0);
    for now in 1..=5 {
        assert!(round(&mut s, now, b"ok", b"ok").is_empty());
    }
    let b = challenger(&mut s, 50);
    // A request served at 90, before `a`'s soak ends at 100; `b`'s copy of it is compared
    // at 130, after: that changes no state and does not re-judge `a` (one step: only its
    // exchange is finished, and recycled) ...
    let m = s.request(90);
    let _ = s.answer(m.request, Responder::Module(a), b"ok", 91);
    let (answered, out) = s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", 92);
    assert_eq!((answered, out.transitions.len()), (Answered::Deliver, 0));
    let (answered, out) = s.answer(m.request, Responder::Module(b), b"ok", 130);
    assert_eq!((answered, out.transitions.len()), (Answered::Compared { agree: true }, 0));
    assert_eq!(s.in_flight(), 0, "the compared exchange is done and recycled");
    assert_eq!(s.module(a).unwrap().state, State::Shadowing);
    // ... the next serving answer does.
    let m = s.request(140);
    let (_, out) = s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", 141);
    assert_eq!(moves(&out.transitions), [(a, State::Shadowing, State::Promotable)]);
    assert_eq!(s.module(b).unwrap().state, State::Shadowing);
}

#[test]
fn without_auto_promotion_a_promotable_challenger_waits_for_a_hand() {
    let mut s = slot(SlotPolicy { auto_promote: false, ..policy() });
    let c = challenger(&mut s, 0);
    let mut ts = Vec::new();
    for now in 1..=3 {
        ts.extend(round(&mut s, now, b"ok", b"ok"));
    }
    assert_eq!(moves(&ts), [(c, State::Shadowing, State::Promotable)]);
    let out = s.promote(c, PromoteMode::IfEvidenceSuffices, 4).unwrap();
    assert_eq!(out.transitions.last().unwrap().reason, Reason::Promoted(PromotedBy::Manual));
}

/// An owner that promotes by policy itself (its `Slot` runs with `auto_promote` off):
/// `PromoteMode::Policy` promotes only on sufficient evidence, with the policy's reason.
#[test]
fn an_owner_promotes_by_policy_only_on_sufficient_evidence() {
    let mut s = slot(SlotPolicy { auto_promote: false, ..policy() });
    let c = challenger(&mut s, 0);
    round(&mut s, 1, b"ok", b"ok");
    assert!(matches!(s.promote(c, PromoteMode::Policy, 2), Err(PromoteRefusal::Insufficient(_))));
    for now in 2..=3 {
        round(&mut s, now, b"ok", b"ok");
    }
    let out = s.promote(c, PromoteMode::Policy, 4).unwrap();
    assert_eq!(out.transitions.last().unwrap().reason, Reason::Promoted(PromotedBy::Policy));
    assert_eq!(s.serving(), c);
}

/// `check_promote` answers what `promote` would, in every mode, and changes nothing.
#[test]
fn check_promote_answers_as_promote_would_and_changes_nothing() {
    let mut s = slot(SlotPolicy { auto_promote: false, ..policy() });
    let c = challenger(&mut s, 0);
    round(&mut s, 1, b"ok", b"ok");
    assert_eq!(s.check_promote(99, PromoteMode::Forced, 2), Err(PromoteRefusal::NoSuchModule(99)));
    assert!(matches!(s.check_promote(ORIGINAL_INCUMBENT, PromoteMode::Forced, 2), Err(PromoteRefusal::NotShadowing(State::Settled))));
    assert!(matches!(s.check_promote(c, PromoteMode::Policy, 2), Err(PromoteRefusal::Insufficient(_))));
    assert!(matches!(s.check_promote(c, PromoteMode::IfEvidenceSuffices, 2), Err(PromoteRefusal::Insufficient(_))));
    assert_eq!(s.check_promote(c, PromoteMode::Forced, 2), Ok(PromotedBy::Forced));
    assert_eq!(s.serving(), ORIGINAL_INCUMBENT, "nothing changed");
    assert_eq!(s.module(c).map(|m| m.state), Some(State::Shadowing));
    for now in 2..=3 {
        round(&mut s, now, b"ok", b"ok");
    }
    assert_eq!(s.check_promote(c, PromoteMode::IfEvidenceSuffices, 4), Ok(PromotedBy::Manual));
    assert_eq!(s.check_promote(c, PromoteMode::Policy, 4), Ok(PromotedBy::Policy));
    let out = s.promote(c, PromoteMode::Policy, 4).unwrap();
    assert_eq!(out.transitions.last().unwrap().reason, Reason::Promoted(PromotedBy::Policy));
    let d = s.install(5).err();
    assert!(matches!(d, Some(InstallRefusal::RollbackWindowOpen { .. })), "{d:?}");
    assert!(matches!(s.check_promote(c, PromoteMode::Forced, 5), Err(PromoteRefusal::NotShadowing(State::Promoted))));
}

#[test]
fn disagreement_beyond_the_allowance_rejects_once_enough_requests_are_compared() {
    let mut s = slot(policy());
    let c = challenger(&mut s, 0);
    assert!(round(&mut s, 1, b"ok", b"bad").is_empty(), "one request is no verdict yet");
    round(&mut s, 2, b"ok", b"ok");
    let ts = round(&mut s, 3, b"ok", b"ok");
    assert_eq!(moves(&ts), [(c, State::Shadowing, State::Rejected)]);
    assert!(matches!(ts[0].reason, Reason::Disagreed(Shortfall::TooMuchDisagreement { disagreeing: 1, compared: 3, .. })));
    assert_eq!(s.module(c), None, "a rejected module is forgotten once reported");
    assert_eq!(s.counters().rejected, 1);
}

#[test]
fn a_fault_beyond_the_allowance_rejects() {
    let mut s = slot(SlotPolicy { max_faults: 1, ..policy() });
    let c = challenger(&mut s, 0);
    assert!(s.faulted(c, 1).unwrap().transitions.is_empty());
    let out = s.faulted(c, 2).unwrap();
    assert_eq!(out.transitions[0].reason, Reason::Faulted(Shortfall::TooManyFaults { faults: 2, allowed: 1 }));
    assert_eq!(s.faulted(c, 3), Err(NotApplicable::NoSuchModule(c)));
}

#[test]
fn the_client_never_waits_for_a_challenger_and_late_answers_are_timeouts() {
    let mut s = slot(SlotPolicy { min_agreeing: 10, ..policy() });
    let c = challenger(&mut s, 0);
    let m = s.request(100);
    assert_eq!(m.deadline, 110);
    // The challenger answers first: held until the incumbent's answer comes.
    assert_eq!(s.answer(m.request, Responder::Module(c), b"ok", 101).0, Answered::Held);
    assert_eq!(s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", 102).0, Answered::Deliver);
    assert_eq!(s.module(c).unwrap().evidence.agreeing, 1);
    // The incumbent answers at once; the challenger's answer comes after the deadline.
    let m = s.request(200);
    assert_eq!(s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", 201).0, Answered::Deliver);
    assert_eq!(s.answer(m.request, Responder::Module(c), b"ok", 211).0, Answered::Late);
    // Never answered: the clock counts it.
    let m = s.request(300);
    assert_eq!(s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", 301).0, Answered::Deliver);
    assert!(s.tick(310).transitions.is_empty());
    let _ = s.tick(311);
    assert_eq!(s.answer(m.request, Responder::Module(c), b"ok", 312).0, Answered::Unexpected);
    let e = s.module(c).unwrap().evidence;
    assert_eq!((e.agreeing, e.timeouts, s.counters().timeouts), (1, 2, 2));
    assert_eq!(s.in_flight(), 0);
}

#[test]
fn copies_answered_in_any_order_finish_only_their_own_exchange() {
    // Two challengers, three requests in flight; the copies come back out of order (the
    // middle exchange first, the second challenger before the first) and one disagrees: every
    // copy is compared with its own request's answer, an exchange is done when its last copy
    // is in, and the others keep waiting (the in-order removal takes the last element with a
    // pop and any other with a shift: both are exercised here).
    let mut s = slot(SlotPolicy { min_agreeing: 100, ..policy() });
    let (a, b) = (challenger(&mut s, 0), challenger(&mut s, 0));
    let ms: Vec<_> = (0..3).map(|k| s.request(10 + k)).collect();
    for (k, m) in ms.iter().enumerate() {
        let served = [b'0' + k as u8];
        assert_eq!(s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), &served, 14).0, Answered::Deliver);
    }
    assert_eq!(s.in_flight(), 3);
    let order = [(1, b, b'1'), (1, a, b'1'), (2, a, b'x'), (0, b, b'0'), (2, b, b'2'), (0, a, b'0')];
    let mut done = 0;
    for (k, module, answer) in order {
        let (answered, out) = s.answer(ms[k].request, Responder::Module(module), &[answer], 15);
        assert_eq!(answered, Answered::Compared { agree: answer == b'0' + k as u8 }, "request {k} from {module}");
        assert!(out.transitions.is_empty());
        // Request 1 is done after its second copy, then 0 and 2 only after both of theirs.
        done += usize::from(matches!((k, module), (1, m) if m == a) || (k == 2 && module == b) || (k == 0 && module == a));
        assert_eq!(s.in_flight(), 3 - done, "after request {k} from {module}");
    }
    let (ea, eb) = (s.module(a).unwrap().evidence, s.module(b).unwrap().evidence);
    assert_eq!((ea.agreeing, ea.disagreeing, eb.agreeing, eb.disagreeing), (2, 1, 3, 0));
    // A second answer to a finished exchange is dropped.
    assert_eq!(s.answer(ms[1].request, Responder::Module(a), b"1", 16).0, Answered::Unexpected);
}

#[test]
fn a_dropped_copy_is_a_timeout_at_once_and_its_exchange_is_done() {
    let mut s = slot(SlotPolicy { min_agreeing: 10, ..policy() });
    let c = challenger(&mut s, 0);
    let m = s.request(100);
    assert_eq!(s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", 101).0, Answered::Deliver);
    assert_eq!(s.in_flight(), 1, "waits for the challenger's copy");
    // The manager dropped the copy (its seat fell behind): settled now, before the deadline.
    let _ = s.copy_dropped(m.request, Responder::Module(c), 102);
    assert_eq!(s.in_flight(), 0);
    let e = s.module(c).unwrap().evidence;
    assert_eq!((e.timeouts, s.counters().timeouts), (1, 1));
    // Its answer, if it came after all, is unexpected; a second drop changes nothing.
    assert_eq!(s.answer(m.request, Responder::Module(c), b"ok", 103).0, Answered::Unexpected);
    let _ = s.copy_dropped(m.request, Responder::Module(c), 104);
    assert_eq!(s.counters().timeouts, 1);
    // Dropped before the serving module answered: the exchange still delivers.
    let m = s.request(200);
    let _ = s.copy_dropped(m.request, Responder::Module(c), 201);
    assert_eq!(s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", 202).0, Answered::Deliver);
    assert_eq!((s.in_flight(), s.counters().timeouts), (0, 2));
}

#[test]
fn a_skipped_copy_is_neither_compared_nor_a_timeout_and_its_exchange_is_done() {
    let mut s = slot(SlotPolicy { min_agreeing: 3, ..policy() });
    let c = challenger(&mut s, 0);
    // Skipped before the serving answer: the exchange delivers and is done.
    let m = s.request(100);
    assert!(s.copy_skipped(m.request, Responder::Module(c), 101).transitions.is_empty());
    assert_eq!(s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", 102).0, Answered::Deliver);
    assert_eq!(s.in_flight(), 0);
    // Skipped after it: done at once; the copy's answer, if it came, is unexpected.
    let m = s.request(200);
    assert_eq!(s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", 201).0, Answered::Deliver);
    let _ = s.copy_skipped(m.request, Responder::Module(c), 202);
    assert_eq!(s.in_flight(), 0);
    assert_eq!(s.answer(m.request, Responder::Module(c), b"ok", 203).0, Answered::Unexpected);
    // A second skip, or one of a copy never sent, changes nothing.
    let _ = s.copy_skipped(m.request, Responder::Module(c), 204);
    let _ = s.copy_skipped(999, Responder::Module(c), 204);
    let e = s.module(c).unwrap().evidence;
    assert_eq!((e.skipped, e.compared(), e.agreeing, e.timeouts), (2, 0, 0, 0));
    assert_eq!((s.counters().skipped, s.counters().timeouts), (2, 0));
    // Skips are never agreement: three skipped requests do not make it promotable.
    for now in [300, 400, 500] {
        let m = s.request(now);
        let _ = s.copy_skipped(m.request, Responder::Module(c), now + 1);
        let (_, out) = s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", now + 2);
        assert!(out.transitions.is_empty());
    }
    assert_eq!(s.module(c).unwrap().state, State::Shadowing);
    assert!(matches!(
        s.promote(c, PromoteMode::IfEvidenceSuffices, 600),
        Err(PromoteRefusal::Insufficient(Shortfall::TooFewAgreeing { agreeing: 0, .. }))
    ));
}

#[test]
fn a_skipped_copy_of_the_warm_incumbent_is_not_compared_and_the_next_compared_disagreement_still_trips() {
    let (mut s, c) = promoted();
    // The warm incumbent's copies are skipped (its seat catches up): the promoted module's
    // evidence counts them as not compared, the breaker does not trip on them.
    for now in [20, 30, 40] {
        let m = s.request(now);
        assert_eq!(s.answer(m.request, Responder::Module(c), b"new", now + 1).0, Answered::Deliver);
        let out = s.copy_skipped(m.request, Responder::Module(ORIGINAL_INCUMBENT), now + 2);
        assert!(out.transitions.is_empty());
    }
    let e = s.module(c).unwrap().evidence;
    assert_eq!((e.skipped, e.compared(), s.in_flight()), (3, 0, 0));
    // The first compared disagreement trips the breaker.
    let m = s.request(50);
    let _ = s.answer(m.request, Responder::Module(c), b"new", 51);
    let (answered, out) = s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"old", 52);
    assert_eq!(answered, Answered::Compared { agree: false });
    rolled_back(&out, c, Reason::CircuitBreaker(Trip::DisagreedWithWarm { request: m.request }));
}

#[test]
fn a_copys_latency_may_run_from_when_it_was_sent_to_the_module() {
    let mut s = slot(SlotPolicy { min_agreeing: 100, ..policy() });
    let c = challenger(&mut s, 0);
    let m = s.request(100);
    let _ = s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", 102);
    // The copy waited 6 µs in the manager's queue and took the module 2: its latency is 2.
    let (answered, _) = s.answer_worked(m.request, Responder::Module(c), b"ok", 108, Some(2));
    assert_eq!(answered, Answered::Compared { agree: true });
    let e = s.module(c).unwrap().evidence;
    assert_eq!((e.latency.max, e.incumbent_latency.max, e.slow), (2, 2, 0));
    // The deadline still runs from the request; a worked time cannot exceed the request's age.
    let m = s.request(200);
    let _ = s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", 201);
    assert_eq!(s.answer_worked(m.request, Responder::Module(c), b"ok", 211, Some(1)).0, Answered::Late);
    let m = s.request(300);
    let _ = s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", 301);
    let _ = s.answer_worked(m.request, Responder::Module(c), b"ok", 303, Some(1_000));
    assert_eq!(s.module(c).unwrap().evidence.latency.max, 3);
    // The serving module's own latency always runs from the request.
    let m = s.request(400);
    let _ = s.answer_worked(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", 405, Some(1));
    let _ = s.answer(m.request, Responder::Module(c), b"ok", 405);
    assert_eq!(s.module(c).unwrap().evidence.incumbent_latency.max, 5);
}

#[test]
fn slow_answers_are_counted_and_a_slow_challenger_is_not_promoted() {
    let mut s = slot(policy());
    let c = challenger(&mut s, 0);
    for now in [10, 20, 30, 40] {
        let m = s.request(now);
        let _ = s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", now + 2);
        let (answered, out) = s.answer(m.request, Responder::Module(c), b"ok", now + 4);
        assert_eq!((answered, out.transitions.len()), (Answered::Compared { agree: true }, 0));
    }
    let e = s.module(c).unwrap().evidence;
    assert_eq!((e.slow, e.latency.mean(), e.incumbent_latency.mean()), (4, Some(4), Some(2)));
    let refusal = s.promote(c, PromoteMode::IfEvidenceSuffices, 50).unwrap_err();
    assert!(matches!(refusal, PromoteRefusal::Insufficient(Shortfall::TooSlow { mean: 4, incumbent_mean: 2, .. })));
}

#[test]
fn manual_promotion_is_refused_with_reasons_unless_forced() {
    let mut s = slot(policy());
    let c = challenger(&mut s, 0);
    let refusal = s.promote(c, PromoteMode::IfEvidenceSuffices, 1).unwrap_err();
    assert_eq!(refusal, PromoteRefusal::Insufficient(Shortfall::TooFewAgreeing { agreeing: 0, needed: 3 }));
    assert_eq!(s.promote(99, PromoteMode::Forced, 1), Err(PromoteRefusal::NoSuchModule(99)));
    assert_eq!(s.promote(ORIGINAL_INCUMBENT, PromoteMode::Forced, 1), Err(PromoteRefusal::NotShadowing(State::Settled)));
    let installed = s.install(1).unwrap();
    assert_eq!(s.promote(installed, PromoteMode::Forced, 1), Err(PromoteRefusal::NotShadowing(State::Installed)));
    let out = s.promote(c, PromoteMode::Forced, 2).unwrap();
    assert_eq!(
        moves(&out.transitions),
        [
            (installed, State::Installed, State::Rejected),
            (ORIGINAL_INCUMBENT, State::Settled, State::Warm),
            (c, State::Shadowing, State::Promoted)
        ]
    );
    assert_eq!(out.transitions[0].reason, Reason::Superseded { by: c });
    assert_eq!(out.transitions[2].reason, Reason::Promoted(PromotedBy::Forced));
    assert_eq!(s.install(3), Err(InstallRefusal::RollbackWindowOpen { promoted: c }));
}

#[test]
fn the_challenger_limit_is_kept() {
    let mut s = slot(SlotPolicy { max_challengers: 1, ..policy() });
    challenger(&mut s, 0);
    assert_eq!(s.install(1), Err(InstallRefusal::TooManyChallengers { max: 1 }));
}

#[test]
fn can_install_answers_what_install_would_and_changes_nothing() {
    let mut s = slot(SlotPolicy { max_challengers: 2, ..policy() });
    // Free: the id install then gives.
    let id = s.can_install().unwrap();
    assert_eq!(s.can_install(), Ok(id), "asking twice gives the same id: nothing changed");
    assert_eq!(s.modules().count(), 1);
    assert_eq!(s.install(0), Ok(id));
    let next = s.can_install().unwrap();
    assert_eq!(s.install(0), Ok(next));
    assert_ne!(id, next);
    // At the limit: both refuse alike.
    assert_eq!(s.can_install(), Err(InstallRefusal::TooManyChallengers { max: 2 }));
    assert_eq!(s.install(1), s.can_install());
    // A rollback window open: both refuse alike.
    let _ = s.started(id, 1).unwrap();
    let _ = s.promote(id, PromoteMode::Forced, 2).unwrap();
    assert_eq!(s.can_install(), Err(InstallRefusal::RollbackWindowOpen { promoted: id }));
    assert_eq!(s.install(3), s.can_install());
}

/// A slot whose challenger was just promoted (forced), at time 10.
fn promoted() -> (Slot<ExactOnly>, ModuleId) {
    let mut s = slot(policy());
    let c = challenger(&mut s, 0);
    let _ = s.promote(c, PromoteMode::Forced, 10).unwrap();
    (s, c)
}

fn rolled_back(out: &Outcome, c: ModuleId, reason: Reason) {
    assert_eq!(moves(&out.transitions), [(c, State::Promoted, State::RolledBack), (ORIGINAL_INCUMBENT, State::Warm, State::Settled)]);
    assert!(out.transitions.iter().all(|t| t.reason == reason));
}

#[test]
fn a_fault_after_promotion_rolls_back_and_no_request_is_lost() {
    let (mut s, c) = promoted();
    // Two requests in flight: the warm incumbent answered the first already, not the second.
    let first = s.request(20);
    let _ = s.answer(first.request, Responder::Module(ORIGINAL_INCUMBENT), b"one", 21);
    let second = s.request(22);
    let out = s.faulted(c, 23).unwrap();
    rolled_back(&out, c, Reason::CircuitBreaker(Trip::Fault));
    assert_eq!(out.deliver, [Delivery { request: first.request, answer: b"one".to_vec() }]);
    assert!(out.reissue.is_empty());
    assert_eq!(s.serving(), ORIGINAL_INCUMBENT);
    assert_eq!(s.answer(second.request, Responder::Module(ORIGINAL_INCUMBENT), b"two", 24).0, Answered::Deliver);
    assert_eq!(s.answer(first.request, Responder::Module(c), b"one", 25).0, Answered::Unexpected, "never answered twice");
    assert_eq!(s.counters().delivered, 2);
}

/// A promoted module that holds a request past `breaker_unanswered` without faulting is
/// found by `overdue_serving` (the oldest such request, not before the bound); `unanswered` rolls back as at a fault: the warm incumbent's answer delivered,
/// the request it has not answered reissued to it, nothing answered twice.
#[test]
fn a_promoted_module_holding_a_request_past_the_bound_is_taken_for_hung_and_rolled_back() {
    let (mut s, c) = promoted();
    let first = s.request(20);
    let _ = s.answer(first.request, Responder::Module(ORIGINAL_INCUMBENT), b"one", 21);
    let second = s.request(30);
    assert_eq!(s.overdue_serving(120), None, "at the bound: not yet");
    assert_eq!(s.overdue_serving(121), Some((first.request, 101)));
    assert_eq!(s.overdue_serving(200), Some((first.request, 180)), "the oldest, not the latest");
    assert_eq!(
        s.unanswered(ORIGINAL_INCUMBENT, first.request, 180, 200).err(),
        Some(NotApplicable::WrongState(ORIGINAL_INCUMBENT, State::Warm))
    );
    let out = s.unanswered(c, first.request, 180, 200).unwrap();
    rolled_back(&out, c, Reason::CircuitBreaker(Trip::Unanswered { request: first.request, waited: 180 }));
    assert_eq!(out.deliver, [Delivery { request: first.request, answer: b"one".to_vec() }]);
    assert!(out.reissue.is_empty(), "the warm incumbent's copy of the second is awaited: {:?}", out.reissue);
    assert_eq!(s.overdue_serving(10_000), None, "no window any more (and no restart_unanswered)");
    assert_eq!(s.answer(second.request, Responder::Module(ORIGINAL_INCUMBENT), b"two", 201).0, Answered::Deliver);
    assert_eq!(s.answer(first.request, Responder::Module(c), b"one", 202).0, Answered::Unexpected, "never answered twice");
    assert_eq!(s.counters().delivered, 2);
}

/// A promoted module that answers within the bound is never taken for hung, however many
/// requests it has served; once settled, only `restart_unanswered` (unset by default) takes
/// it for hung (its manager then restarts it as at a fault).
#[test]
fn a_promoted_module_answering_within_the_bound_is_not_taken_for_hung() {
    let (mut s, c) = promoted();
    for now in (20..900).step_by(40) {
        let m = s.request(now);
        assert_eq!(s.overdue_serving(now + 100), None, "unanswered for exactly the bound");
        let _ = s.answer(m.request, Responder::Module(c), b"ok", now + 1);
        let _ = s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", now + 1);
        assert_eq!(s.overdue_serving(now + 1000), None, "answered");
    }
    let _ = s.tick(2000);
    assert_eq!(s.module(c).map(|m| m.state), Some(State::Settled));
    let held = s.request(2000);
    assert_eq!(s.overdue_serving(1_000_000), None, "settled, no restart_unanswered: {held:?}");
}

/// With `restart_unanswered` set, a settled serving module (here the incumbent, before any
/// promotion) holding a request past it is taken for hung (its manager restarts it); not
/// at the bound, and the oldest request it holds.
#[test]
fn a_settled_serving_module_is_taken_for_hung_only_past_restart_unanswered() {
    let mut s = slot(SlotPolicy { restart_unanswered: Some(300), ..policy() });
    let first = s.request(2000);
    let _ = s.request(2100);
    assert_eq!(s.overdue_serving(2300), None, "at the bound: not yet");
    assert_eq!(s.overdue_serving(2301), Some((first.request, 301)));
    assert_eq!(s.overdue_serving(2450), Some((first.request, 450)), "the oldest, not the latest");
    let _ = s.answer(first.request, Responder::Module(ORIGINAL_INCUMBENT), b"one", 2451);
    assert_eq!(s.overdue_serving(2400), None, "the second at the bound");
    assert_eq!(s.overdue_serving(2401).map(|(_, waited)| waited), Some(301), "the second past it");
}

#[test]
fn disagreeing_with_the_warm_incumbent_trips_the_breaker() {
    let (mut s, c) = promoted();
    let m = s.request(20);
    let _ = s.answer(m.request, Responder::Module(c), b"new", 21);
    let (answered, out) = s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"old", 21);
    assert_eq!(answered, Answered::Compared { agree: false });
    rolled_back(&out, c, Reason::CircuitBreaker(Trip::DisagreedWithWarm { request: m.request }));
}

#[test]
fn a_latency_regression_after_promotion_trips_the_breaker() {
    let (mut s, c) = promoted();
    let mut trips = Vec::new();
    for now in [20, 30] {
        let m = s.request(now);
        let _ = s.answer(m.request, Responder::Module(c), b"ok", now + 5);
        let (_, out) = s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", now + 1);
        trips.extend(out.transitions);
    }
    assert_eq!(trips[0].reason, Reason::CircuitBreaker(Trip::LatencyRegression { mean: 5, warm_mean: 1 }));
}

#[test]
fn the_window_closes_into_settled_and_retired() {
    let (mut s, c) = promoted();
    round(&mut s, 20, b"ok", b"ok");
    assert!(s.tick(1009).transitions.is_empty());
    let out = s.tick(1010);
    assert_eq!(moves(&out.transitions), [(c, State::Promoted, State::Settled), (ORIGINAL_INCUMBENT, State::Warm, State::Retired)]);
    assert!(out.transitions.iter().all(|t| t.reason == Reason::WindowElapsed));
    assert_eq!((s.warm(), s.module(ORIGINAL_INCUMBENT)), (None, None));
    assert_eq!(s.rollback(1011), Err(RollbackRefusal::NothingToRollBack));
}

#[test]
fn manual_rollback_restores_the_warm_incumbent() {
    let (mut s, c) = promoted();
    rolled_back(&s.rollback(11).unwrap(), c, Reason::ManualRollback);
    assert_eq!((s.serving(), s.warm()), (ORIGINAL_INCUMBENT, None));
    let cs = s.counters();
    assert_eq!((cs.promoted, cs.rolled_back, cs.settled), (1, 1, 0));
}

#[test]
fn a_warm_incumbent_that_faults_settles_the_promotion_and_its_requests_are_reissued() {
    let mut s = slot(policy());
    let c = challenger(&mut s, 0);
    let before = s.request(5);
    let _ = s.promote(c, PromoteMode::Forced, 10).unwrap();
    let out = s.faulted(ORIGINAL_INCUMBENT, 11).unwrap();
    assert_eq!(moves(&out.transitions), [(c, State::Promoted, State::Settled), (ORIGINAL_INCUMBENT, State::Warm, State::Retired)]);
    assert!(out.transitions.iter().all(|t| t.reason == Reason::WarmFaulted));
    assert_eq!(out.reissue, [before.request]);
    assert_eq!(s.answer(before.request, Responder::Module(c), b"ok", 12).0, Answered::Deliver);
}

#[test]
fn a_promoted_modules_copies_of_what_the_warm_module_had_not_answered_are_its_answers_at_the_hand_over() {
    // Its state holds those requests already: asked again, it would apply them twice.
    let mut s = slot(policy());
    let c = challenger(&mut s, 0);
    let early = s.request(5);
    let late = s.request(6);
    let unanswered = s.request(7);
    assert_eq!(s.answer(early.request, Responder::Module(c), b"early", 8).0, Answered::Held);
    let _ = s.promote(c, PromoteMode::Forced, 10).unwrap();
    // Its copy answered after the promotion is kept too, compared with nothing.
    assert_eq!(s.answer(late.request, Responder::Module(c), b"late", 11).0, Answered::Held);
    assert_eq!(s.module(c).unwrap().evidence.compared(), 0);
    let out = s.faulted(ORIGINAL_INCUMBENT, 12).unwrap();
    let delivered: Vec<(RequestId, &[u8])> = out.deliver.iter().map(|d| (d.request, &d.answer[..])).collect();
    assert_eq!(delivered, [(early.request, &b"early"[..]), (late.request, &b"late"[..])]);
    assert_eq!(out.reissue, [unanswered.request]);
    assert_eq!(s.answer(unanswered.request, Responder::Module(c), b"third", 13).0, Answered::Deliver);
}

#[test]
fn a_warm_modules_copy_answered_past_its_deadline_is_the_requests_answer_at_a_rollback() {
    // A timeout for the evidence; but the warm module's state holds the request.
    let (mut s, c) = promoted();
    let m = s.request(20);
    let _ = s.tick(31);
    assert_eq!(s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"late", 32).0, Answered::Held);
    let out = s.rollback(33).unwrap();
    rolled_back(&out, c, Reason::ManualRollback);
    let delivered: Vec<(RequestId, &[u8])> = out.deliver.iter().map(|d| (d.request, &d.answer[..])).collect();
    assert_eq!(delivered, [(m.request, &b"late"[..])]);
    assert!(out.reissue.is_empty());
}

#[test]
fn a_copy_answered_after_the_promotion_is_not_delivered_once_the_warm_module_answered() {
    let mut s = slot(policy());
    let c = challenger(&mut s, 0);
    let m = s.request(5);
    let _ = s.promote(c, PromoteMode::Forced, 10).unwrap();
    assert_eq!(s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", 11).0, Answered::Deliver);
    assert_eq!(s.answer(m.request, Responder::Module(c), b"ok", 12).0, Answered::Unexpected);
    let out = s.faulted(ORIGINAL_INCUMBENT, 13).unwrap();
    assert!(out.deliver.is_empty() && out.reissue.is_empty(), "{out:?}");
}

#[test]
fn noise_cancellation_forgives_what_the_incumbent_itself_varies_by() {
    let p = SlotPolicy { min_agreeing: 6, max_disagreement: Ratio { num: 0, den: 1 }, ..policy() };
    let mut s = Slot::new(p, Comparator::NoiseCancelled, ExactOnly, 0).unwrap();
    let c = s.install(0).unwrap();
    let _ = s.started(c, 0).unwrap();
    // Every fourth request, both the replica and the challenger differ from the incumbent.
    let mut ts = Vec::new();
    for n in 0..7u64 {
        let m = s.request(n * 10);
        assert!(m.replica);
        let other: &[u8] = if n % 4 == 3 { b"jitter" } else { b"ok" };
        let _ = s.answer(m.request, Responder::Replica, other, n * 10 + 1);
        let _ = s.answer(m.request, Responder::Module(c), other, n * 10 + 1);
        ts.extend(s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", n * 10 + 1).1.transitions);
    }
    assert_eq!((s.noise().disagreeing, s.noise().compared), (1, 7));
    assert_eq!(ts.last().map(|t| (t.module, t.to)), Some((c, State::Promoted)));
}

/// Drives `requests` requests through a noise-cancelled slot from `start` (ticks of 10):
/// the serving module answers `ok`; the replica (while it gets copies) and every other
/// module answer `jitter` on every fourth request and `ok` on the others; module `wrong`,
/// serving or not, answers `bad` on every other request instead. The transitions, in order.
fn noisy_requests(s: &mut Slot<ExactOnly>, start: u64, requests: u64, wrong: Option<ModuleId>) -> Vec<Transition> {
    let mut ts = Vec::new();
    for n in start..start + requests {
        let now = n * 10;
        let m = s.request(now);
        let noisy: &[u8] = if n % 4 == 3 { b"jitter" } else { b"ok" };
        if m.replica {
            ts.extend(s.answer(m.request, Responder::Replica, noisy, now + 1).1.transitions);
        }
        for &other in s.mirrored().to_vec().iter() {
            let answer: &[u8] = if Some(other) == wrong && n % 2 == 0 { b"bad" } else { noisy };
            ts.extend(s.answer(m.request, Responder::Module(other), answer, now + 1).1.transitions);
        }
        let served: &[u8] = if Some(m.serve) == wrong && n % 2 == 0 { b"bad" } else { b"ok" };
        ts.extend(s.answer(m.request, Responder::Module(m.serve), served, now + 1).1.transitions);
    }
    ts
}

/// A noise-cancelled slot whose challenger (as noisy as the incumbent's replica, no more)
/// was promoted by the policy at its 10th request (8 agreeing): the slot and the challenger.
fn promoted_under_noise() -> (Slot<ExactOnly>, ModuleId) {
    let p = SlotPolicy { min_agreeing: 8, max_disagreement: Ratio { num: 1, den: 5 }, rollback_window: 100_000, ..policy() };
    let mut s = Slot::new(p, Comparator::NoiseCancelled, ExactOnly, 0).unwrap();
    let c = s.install(0).unwrap();
    let _ = s.started(c, 0).unwrap();
    let ts = noisy_requests(&mut s, 0, 10, None);
    assert_eq!(ts.last().map(|t| (t.module, t.to)), Some((c, State::Promoted)), "{ts:?}");
    assert_eq!((s.noise().disagreeing, s.noise().compared), (2, 10));
    (s, c)
}

#[test]
fn under_noise_the_breaker_forgives_the_warm_incumbents_own_noise() {
    // In the window the promoted module and the warm incumbent differ as often as the
    // incumbent and its replica did: the breaker subtracts that noise and waits, as a
    // rejection does, for `min_agreeing` compared answers before it judges the rate.
    let (mut s, c) = promoted_under_noise();
    let ts = noisy_requests(&mut s, 10, 40, None);
    assert!(ts.is_empty(), "{ts:?}");
    let e = s.module(c).unwrap().evidence;
    assert_eq!((s.module(c).unwrap().state, e.disagreeing, e.compared()), (State::Promoted, 10, 40));
    assert_eq!(s.noise().compared, 10, "the replica gets no copies during the window");
}

#[test]
fn under_noise_the_breaker_still_trips_on_disagreement_well_above_the_noise() {
    let (mut s, c) = promoted_under_noise();
    // The promoted module answers `bad` to every other request (6 of its first 8 answers
    // differ from the warm one's: 3/4 − 1/5 > 1/5): rolled back at the `min_agreeing`th
    // compared answer, not before.
    let ts = noisy_requests(&mut s, 10, 7, Some(c));
    assert!(ts.is_empty(), "{ts:?}");
    let ts = noisy_requests(&mut s, 17, 1, Some(c));
    assert_eq!(moves(&ts), [(c, State::Promoted, State::RolledBack), (ORIGINAL_INCUMBENT, State::Warm, State::Settled)]);
    assert!(matches!(ts[0].reason, Reason::CircuitBreaker(Trip::DisagreedWithWarm { .. })), "{ts:?}");
}

#[test]
fn events_for_the_wrong_state_are_refused() {
    let mut s = slot(policy());
    let c = challenger(&mut s, 0);
    assert_eq!(s.started(c, 1), Err(NotApplicable::WrongState(c, State::Shadowing)));
    assert_eq!(s.started(42, 1), Err(NotApplicable::NoSuchModule(42)));
    assert_eq!(s.answer(7, Responder::Module(c), b"?", 1).0, Answered::Unexpected);
}

#[test]
fn answers_held_before_the_serving_one_are_judged_in_the_copies_order_not_their_arrival() {
    // One agreeing answer suffices: the first challenger judged is promoted and supersedes
    // the other. Both answer before the serving module, the later-installed one first.
    let mut s = slot(SlotPolicy { min_agreeing: 1, ..policy() });
    let first = challenger(&mut s, 0);
    let second = challenger(&mut s, 0);
    let m = s.request(1);
    assert_eq!(s.mirrored(), [first, second]);
    assert_eq!(s.answer(m.request, Responder::Module(second), b"ok", 2), (Answered::Held, Outcome::default()));
    assert_eq!(s.answer(m.request, Responder::Module(first), b"ok", 3), (Answered::Held, Outcome::default()));
    // A held answer is no longer awaited: a second one from the same module is unexpected.
    assert_eq!(s.answer(m.request, Responder::Module(first), b"ok", 3).0, Answered::Unexpected);
    let (answered, out) = s.answer(m.request, Responder::Module(m.serve), b"ok", 4);
    assert_eq!(answered, Answered::Deliver);
    assert_eq!(
        moves(&out.transitions),
        [
            (first, State::Shadowing, State::Promotable),
            (second, State::Shadowing, State::Rejected),
            (ORIGINAL_INCUMBENT, State::Settled, State::Warm),
            (first, State::Promotable, State::Promoted),
        ]
    );
    assert_eq!(s.in_flight(), 0, "every copy was compared: the exchange is done");
}
