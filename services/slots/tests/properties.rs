//! Properties of the slot's rules over generated evidence, event orders and answers.

use proptest::prelude::*;
use std::collections::HashMap;
use tileos_slots::{
    Answered, Comparator, CopyTicket, Evidence, ExactOnly, Latency, Mirror, ModuleId, Noise, ORIGINAL_INCUMBENT, Outcome, PromoteMode,
    PromotedBy, Ratio, Reason, RequestId, Responder, Shortfall, Slot, SlotPolicy, State, Trip, VoteOutcome, vote,
};

/// What a mirrored challenger does with one request.
#[derive(Clone, Copy, Debug)]
enum Reply {
    Agree,
    Disagree,
    Silent,
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![4 => Just(Reply::Agree), 1 => Just(Reply::Disagree), 1 => Just(Reply::Silent)]
}

proptest! {
    /// The slot skips judging a shadowing challenger's evidence while fewer than
    /// `min_agreeing` requests were compared and its faults are within the policy
    /// (`Slot::evaluate`). That is sound only if the judgement could not change anything
    /// then: the shortfall is always one that leaves a shadowing module shadowing
    /// (disagreement not yet judged, too few agreeing), never a rejection, never none, and
    /// never the soak (which time alone could end).
    #[test]
    fn the_verdict_is_skipped_only_while_it_cannot_change(
        (agreeing, disagreeing, timeouts) in (0u64..40, 0u64..40, 0u64..40),
        faults in 0u32..3,
        // Drawn above what the evidence has (compared < min_agreeing, faults <= max_faults),
        // not filtered: a filter rejected most draws and gave up at high case counts.
        faults_allowed_beyond in 0u32..3,
        agreeing_needed_beyond in 1u64..80,
        (num, den) in (1u32..20).prop_flat_map(|den| (0..=den, Just(den))),
        (noise_disagreeing, noise_extra) in (0u64..30, 0u64..30),
        (sum, incumbent_sum) in (0u64..1_000_000, 0u64..1_000_000),
        (soaked, min_soak) in (0u64..1_000, 0u64..1_000),
    ) {
        let max_faults = faults + faults_allowed_beyond;
        let evidence = Evidence {
            agreeing,
            disagreeing,
            timeouts,
            faults,
            latency: Latency { samples: agreeing + disagreeing, sum, max: sum },
            incumbent_latency: Latency { samples: agreeing + disagreeing, sum: incumbent_sum, max: incumbent_sum },
            ..Evidence::default()
        };
        let min_agreeing = evidence.compared() + agreeing_needed_beyond;
        let policy = SlotPolicy { min_agreeing, max_faults, max_disagreement: Ratio { num, den }, min_soak, ..SlotPolicy::default() };
        let noise = Noise { compared: noise_disagreeing + noise_extra, disagreeing: noise_disagreeing };
        let shortfall = evidence.shortfall(&policy, noise, soaked);
        prop_assert!(
            matches!(shortfall, Some(Shortfall::TooMuchDisagreement { .. } | Shortfall::TooFewAgreeing { .. })),
            "{shortfall:?}"
        );
    }

    /// Whatever a challenger answers, the policy (or a hand asking for sufficient evidence)
    /// promotes it only with disagreement within the allowance and enough agreeing answers.
    #[test]
    fn a_challenger_disagreeing_beyond_the_allowance_is_never_promoted(
        min_agreeing in 1u64..20,
        (num, den) in (1u32..20).prop_flat_map(|den| (0..=den, Just(den))),
        auto_promote: bool,
        replies in proptest::collection::vec((reply(), any::<bool>()), 0..150),
    ) {
        let policy = SlotPolicy {
            min_agreeing, max_disagreement: Ratio { num, den }, min_soak: 0, answer_deadline: 5, auto_promote, ..SlotPolicy::default()
        };
        let mut s = Slot::new(policy, Comparator::Exact, ExactOnly, 0).unwrap();
        let c = s.install(0).unwrap();
        let mut transitions = s.started(c, 0).unwrap().transitions;
        for (n, (reply, try_by_hand)) in replies.into_iter().enumerate() {
            let now = 10 * n as u64 + 10;
            let m = s.request(now);
            let mirrored = s.mirrored().contains(&c);
            transitions.extend(s.answer(m.request, Responder::Module(m.serve), b"ok", now + 1).1.transitions);
            if mirrored {
                match reply {
                    Reply::Agree => transitions.extend(s.answer(m.request, Responder::Module(c), b"ok", now + 1).1.transitions),
                    Reply::Disagree => transitions.extend(s.answer(m.request, Responder::Module(c), b"no", now + 1).1.transitions),
                    Reply::Silent => transitions.extend(s.tick(now + 6).transitions),
                }
            }
            if try_by_hand && let Ok(out) = s.promote(c, PromoteMode::IfEvidenceSuffices, now + 2) {
                transitions.extend(out.transitions);
            }
        }
        for t in transitions.iter().filter(|t| t.module == c && matches!(t.to, State::Promoted | State::Promotable)) {
            prop_assert!(!t.evidence.disagreement_exceeds(Ratio { num, den }, Noise::default()), "{t:?}");
            prop_assert!(t.evidence.agreeing >= min_agreeing);
            if t.to == State::Promoted {
                prop_assert!(matches!(t.reason, Reason::Promoted(PromotedBy::Policy | PromotedBy::Manual)));
            }
        }
    }

    /// Whatever agreeing traffic came before, a fault of the promoted module within the window
    /// rolls back to the warm incumbent.
    #[test]
    fn after_promotion_any_fault_within_the_window_rolls_back(
        window in 2u64..10_000,
        rounds in 0usize..20,
        fault_at in 1u64..10_000,
    ) {
        let fault_at = fault_at % (window - 1) + 1;
        let policy = SlotPolicy { rollback_window: window, answer_deadline: 1_000_000, ..SlotPolicy::default() };
        let mut s = Slot::new(policy, Comparator::Exact, ExactOnly, 0).unwrap();
        let c = s.install(0).unwrap();
        let _ = s.started(c, 0).unwrap();
        let _ = s.promote(c, PromoteMode::Forced, 100).unwrap();
        for r in 0..rounds as u64 {
            let now = 100 + fault_at * r / rounds as u64;
            let m = s.request(now);
            let _ = s.answer(m.request, Responder::Module(c), b"ok", now);
            let _ = s.answer(m.request, Responder::Module(ORIGINAL_INCUMBENT), b"ok", now);
            prop_assert!(s.tick(now).transitions.is_empty());
        }
        let out = s.faulted(c, 100 + fault_at).unwrap();
        prop_assert_eq!(out.transitions.len(), 2);
        prop_assert_eq!(out.transitions[0].to, State::RolledBack);
        prop_assert_eq!(out.transitions[0].reason, Reason::CircuitBreaker(Trip::Fault));
        prop_assert_eq!(s.serving(), ORIGINAL_INCUMBENT);
    }

    /// With at most one lineage wrong (or silent), the delivered answer is the right one.
    #[test]
    fn one_wrong_lineage_never_changes_the_delivered_answer(
        right in proptest::collection::vec(any::<u8>(), 0..8),
        wrong in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        culprit in 0usize..4,
    ) {
        let mut answers = [Some(right.as_slice()); 3];
        if culprit < 3 {
            answers[culprit] = wrong.as_deref();
        }
        let delivered = match vote(answers, |a, b| a == b) {
            VoteOutcome::Unanimous(a) | VoteOutcome::Majority { answer: a, .. } => a,
            VoteOutcome::NoMajority => panic!("two lineages agree, so there is a majority"),
        };
        prop_assert_eq!(delivered, right.as_slice());
    }
}

/// How a promotion ends in [`thousand_promotion_and_rollback_cycles_keep_the_counters_consistent`].
#[derive(Clone, Copy, Debug)]
enum Ending {
    Fault,
    Disagreement,
    ManualRollback,
    WindowElapses,
    WarmFaults,
}

/// The client side: which requests were delivered how often.
#[derive(Default)]
struct Clients {
    delivered: HashMap<RequestId, u32>,
    sent: u64,
}

impl Clients {
    fn send(&mut self, s: &mut Slot<ExactOnly>, now: u64) -> Mirror {
        self.sent += 1;
        s.request(now)
    }

    /// Counts what an answer and an outcome deliver, and has the serving module answer
    /// every reissued request at once.
    fn settle(&mut self, s: &mut Slot<ExactOnly>, request: Option<RequestId>, answered: Answered, out: Outcome, now: u64) {
        if let (Some(r), Answered::Deliver) = (request, answered) {
            *self.delivered.entry(r).or_default() += 1;
        }
        for d in out.deliver {
            *self.delivered.entry(d.request).or_default() += 1;
        }
        for r in out.reissue {
            let (answered, out) = s.answer(r, Responder::Module(s.serving()), b"ok", now);
            self.settle(s, Some(r), answered, out, now);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// 1,000 promotions, each ended by a fault, a disagreement, a manual rollback, the window
    /// closing or the warm incumbent faulting, with a request in flight at every ending: every
    /// request is delivered exactly once and the counters add up.
    #[test]
    fn thousand_promotion_and_rollback_cycles_keep_the_counters_consistent(
        endings in proptest::collection::vec(
            prop_oneof![
                Just(Ending::Fault), Just(Ending::Disagreement), Just(Ending::ManualRollback),
                Just(Ending::WindowElapses), Just(Ending::WarmFaults),
            ],
            1000,
        ),
    ) {
        let policy = SlotPolicy { min_agreeing: 3, min_soak: 0, rollback_window: 50, answer_deadline: 10, ..SlotPolicy::default() };
        let mut s = Slot::new(policy, Comparator::Exact, ExactOnly, 0).unwrap();
        let mut clients = Clients::default();
        let mut now = 0;
        for ending in endings {
            now += 100;
            let c = s.install(now).unwrap();
            let _ = s.started(c, now).unwrap();
            for _ in 0..3 {
                now += 1;
                let m = clients.send(&mut s, now);
                let _ = s.answer(m.request, Responder::Module(c), b"ok", now);
                let (answered, out) = s.answer(m.request, Responder::Module(m.serve), b"ok", now);
                clients.settle(&mut s, Some(m.request), answered, out, now);
            }
            prop_assert_eq!(s.serving(), c, "promoted by the policy");
            // A request in flight: nobody has answered it yet.
            now += 1;
            let open = clients.send(&mut s, now);
            let out = match ending {
                Ending::Fault => s.faulted(c, now).unwrap(),
                Ending::Disagreement => {
                    let m = clients.send(&mut s, now);
                    let _ = s.answer(m.request, Responder::Module(s.warm().unwrap()), b"old", now);
                    let (answered, out) = s.answer(m.request, Responder::Module(c), b"new", now);
                    clients.settle(&mut s, Some(m.request), answered, Outcome::default(), now);
                    out
                }
                Ending::ManualRollback => s.rollback(now).unwrap(),
                Ending::WindowElapses => s.tick(now + 50),
                Ending::WarmFaults => s.faulted(s.warm().unwrap(), now).unwrap(),
            };
            clients.settle(&mut s, None, Answered::Unexpected, out, now);
            // Whoever serves now answers the open request (if it is still owed).
            let (answered, out) = s.answer(open.request, Responder::Module(s.serving()), b"ok", now + 1);
            clients.settle(&mut s, Some(open.request), answered, out, now + 1);
            let _ = s.tick(now + 1000);
            let k = s.counters();
            prop_assert_eq!(s.warm(), None);
            prop_assert_eq!(k.promoted, k.rolled_back + k.settled);
            prop_assert_eq!(k.installed, k.rejected + k.promoted);
            prop_assert_eq!(s.in_flight(), 0);
        }
        let k = s.counters();
        prop_assert_eq!(k.promoted, 1000);
        prop_assert_eq!(k.requests, clients.sent);
        prop_assert_eq!(k.delivered, clients.sent);
        prop_assert_eq!(clients.delivered.len() as u64, clients.sent);
        prop_assert!(clients.delivered.values().all(|&n| n == 1), "a request answered twice");
    }
}

/// A message of `label` and `words` as the slot compares it: the label, then each word,
/// little-endian (`Message::to_bytes` of the slot manager).
fn message_bytes(label: u64, words: &[u64]) -> Vec<u8> {
    core::iter::once(label).chain(words.iter().copied()).flat_map(u64::to_le_bytes).collect()
}

/// What a mirrored challenger sends back for one request in
/// `the_narrow_path_records_exactly_what_the_general_path_records`.
#[derive(Clone, Copy, Debug)]
enum CopyReply {
    /// The serving answer's label and words.
    Same,
    /// One word different.
    OtherWord,
    /// Another label.
    OtherLabel,
    /// One word more (a different length).
    Longer,
    /// No words.
    Empty,
    /// Nothing (its copy times out at the next tick).
    Silent,
}

/// One request's mirrored copies to answer in
/// `the_narrow_path_records_exactly_what_the_general_path_records`, in the order given.
#[derive(Clone, Debug)]
struct CopyRound {
    request: RequestId,
    answering: Vec<ModuleId>,
    words: Vec<u64>,
    reply: CopyReply,
    late: u64,
    worked: u64,
}

/// Answers `round`'s copies at `now` (late by `late` deadlines), to `general` on the general
/// path and to `narrow` on the narrow path first (with `tickets`, one per module), and checks
/// that the two slots stay alike.
fn answer_copies(
    narrow: &mut Slot<ExactOnly>,
    general: &mut Slot<ExactOnly>,
    tickets: &mut HashMap<ModuleId, Option<CopyTicket>>,
    round: &CopyRound,
    now: u64,
) -> Result<(), TestCaseError> {
    let CopyRound { request, ref answering, ref words, reply, late, worked } = *round;
    for &c in answering {
        let (label, copy): (u64, Vec<u64>) = match reply {
            CopyReply::Same => (0x40, words.clone()),
            CopyReply::OtherWord => (0x40, words.iter().map(|w| w ^ 1).chain(words.is_empty().then_some(1)).collect()),
            CopyReply::OtherLabel => (0x41, words.clone()),
            CopyReply::Longer => (0x40, words.iter().copied().chain([0]).collect()),
            CopyReply::Empty => (0x40, Vec::new()),
            CopyReply::Silent => continue,
        };
        // Late by `late` deadlines (0: in time); its time worked other than the serving
        // answer's latency (1) in most cases, so that the two latencies recorded are told
        // apart.
        let at = now + 2 + late * 25;
        let general_answer = general.answer_worked(request, Responder::Module(c), &message_bytes(label, &copy), at, Some(worked));
        let before = narrow.clone();
        // Now and then another module's ticket (it must not be taken for this one).
        let ticket = tickets.entry(if worked == 7 { c.wrapping_add(1) } else { c }).or_default();
        match narrow.copy_answer(ticket, request, c, label, &copy, at, worked) {
            Some(agree) => {
                prop_assert_eq!(general_answer, (Answered::Compared { agree }, Outcome::default()));
                // Identical at once, not only after the next event's re-judging. The narrow
                // path counts in a tally folded in batches: every reader sees the evidence
                // folded (the views, a promotion's check, the `Debug`), whenever it reads,
                // however many answers the tally holds. The `Debug` shows the exchanges too:
                // which are live, their copies' marks, the spares.
                prop_assert_eq!(format!("{:?}", &narrow), format!("{:?}", &general), "after a narrow answer");
                prop_assert_eq!(narrow.modules().collect::<Vec<_>>(), general.modules().collect::<Vec<_>>());
                prop_assert_eq!(narrow.module(c), general.module(c));
                prop_assert_eq!(narrow.in_flight(), general.in_flight());
                prop_assert_eq!(
                    narrow.check_promote(c, PromoteMode::IfEvidenceSuffices, at),
                    general.check_promote(c, PromoteMode::IfEvidenceSuffices, at)
                );
            }
            None => {
                prop_assert_eq!(format!("{:?}", &before), format!("{:?}", &narrow), "nothing changed when it falls back");
                let narrow_answer = narrow.answer_worked(request, Responder::Module(c), &message_bytes(label, &copy), at, Some(worked));
                prop_assert_eq!(narrow_answer, general_answer);
            }
        }
    }
    Ok(())
}

proptest! {
    /// `Slot::copy_answer`, the narrow path of a mirrored answer, changes the slot exactly as
    /// `Slot::answer_worked` does with the answer's bytes whenever it applies (and says
    /// whether the answer agreed, as `Answered::Compared` does), and changes nothing when it
    /// does not apply; a copy answered before the serving module, a late one, a promoted or
    /// promotable module's, and the rollback window's all fall back. Two slots get the same
    /// events; one offers each mirrored answer to the narrow path first, with one
    /// `CopyTicket` per module kept across all events (so tickets go stale at every kind of
    /// change the events make: a fault, a rollback, a promotion by the policy or by hand, a
    /// window closing, a module rejected or installed; and the copy's position a ticket
    /// keeps goes stale when the modules mirrored to change). The copies are answered in the
    /// order they were made or in reverse, in their own round or deferred to the next one
    /// (before or after that round's copies, across its fault, rollback, promotion and tick),
    /// so exchanges finish out of request order and copies are answered with more than one
    /// exchange live. They are compared after every answer
    /// the narrow path takes and after every round of events. The narrow path counts a
    /// module's answers in a tally that the slot folds into its evidence in batches (before
    /// anything reads or changes the evidence), so the two slots keep their evidence apart
    /// and the comparisons are of the evidence as read: the views, a promotion's check and
    /// the `Debug` form (which shows the evidence folded). (Debug builds also check, on
    /// every ticket used, that what it certifies still holds, on every narrow answer
    /// that the tally's room still stops short of `min_agreeing`.) Both slots find an
    /// exchange the same way, so the finding itself is checked apart:
    /// `exchanges_after_one_that_finished_out_of_order_are_found_below_their_index`.
    #[test]
    fn the_narrow_path_records_exactly_what_the_general_path_records(
        min_agreeing in 1u64..12,
        max_faults in 0u32..2,
        auto_promote: bool,
        (num, den) in (1u32..4).prop_flat_map(|den| (0..=den, Just(den))),
        events in proptest::collection::vec(
            (
                prop_oneof![
                    6 => Just(CopyReply::Same),
                    1 => Just(CopyReply::OtherWord),
                    1 => Just(CopyReply::OtherLabel),
                    1 => Just(CopyReply::Longer),
                    1 => Just(CopyReply::Empty),
                    1 => Just(CopyReply::Silent),
                ],
                any::<bool>(),
                0u64..3,
                proptest::collection::vec(any::<u64>(), 0..4),
                0u64..12,
                0u64..8,
                any::<bool>(),
                prop_oneof![3 => Just(Defer::No), 1 => Just(Defer::BeforeNext), 1 => Just(Defer::AfterNext)],
            ),
            0..80,
        ),
    ) {
        let policy = SlotPolicy {
            min_agreeing, max_faults, max_disagreement: Ratio { num, den }, min_soak: 0, answer_deadline: 20,
            rollback_window: 200, auto_promote, ..SlotPolicy::default()
        };
        let mut narrow = Slot::new(policy, Comparator::Exact, ExactOnly, 0).unwrap();
        let mut general = narrow.clone();
        let mut tickets: HashMap<ModuleId, Option<CopyTicket>> = HashMap::new();
        let mut now = 0;
        // The last round's copies when it deferred them, and whether they go after this
        // round's.
        let mut deferred: Option<(CopyRound, bool)> = None;
        for (reply, copy_first, late, words, fault_or_rollback, worked, reversed, defer) in events {
            now += 10;
            // A challenger now and then (both slots number them alike).
            if narrow.modules().filter(|m| m.state == State::Shadowing).count() < 2 && narrow.install(now).is_ok() {
                let c = general.install(now).unwrap();
                prop_assert_eq!(narrow.started(c, now).unwrap(), general.started(c, now).unwrap());
            }
            let m = narrow.request(now);
            prop_assert_eq!(&m, &general.request(now));
            let mirrored = narrow.mirrored().to_vec();
            // The copies answered in the order they were made or the other way round (the
            // first one's then is settled before the other's, and two held answers arrive
            // out of the copies' order).
            let answering: Vec<ModuleId> = if reversed { mirrored.iter().rev().copied().collect() } else { mirrored.clone() };
            let serving = message_bytes(0x40, &words);
            let serve = |s: &mut Slot<ExactOnly>| s.answer(m.request, Responder::Module(m.serve), &serving, now + 1);
            if !copy_first {
                prop_assert_eq!(serve(&mut narrow), serve(&mut general));
            }
            let round = CopyRound { request: m.request, answering, words, reply, late, worked };
            let earlier = deferred.take();
            if let Some((earlier, false)) = &earlier {
                answer_copies(&mut narrow, &mut general, &mut tickets, earlier, now)?;
            }
            match defer {
                Defer::No => answer_copies(&mut narrow, &mut general, &mut tickets, &round, now)?,
                Defer::BeforeNext => deferred = Some((round, false)),
                Defer::AfterNext => deferred = Some((round, true)),
            }
            if let Some((earlier, true)) = &earlier {
                answer_copies(&mut narrow, &mut general, &mut tickets, earlier, now)?;
            }
            if copy_first {
                prop_assert_eq!(serve(&mut narrow), serve(&mut general));
            }
            match fault_or_rollback {
                0 => {
                    if let Some(c) = mirrored.first() {
                        prop_assert_eq!(narrow.faulted(*c, now + 3), general.faulted(*c, now + 3));
                    }
                }
                1 => prop_assert_eq!(narrow.rollback(now + 3), general.rollback(now + 3)),
                2 => {
                    if let Some(c) = mirrored.last() {
                        prop_assert_eq!(
                            narrow.promote(*c, PromoteMode::Forced, now + 3),
                            general.promote(*c, PromoteMode::Forced, now + 3)
                        );
                    }
                }
                _ => {}
            }
            prop_assert_eq!(narrow.tick(now + 4), general.tick(now + 4));
            prop_assert_eq!(format!("{:?}", &narrow), format!("{:?}", &general));
            prop_assert_eq!(narrow.modules().collect::<Vec<_>>(), general.modules().collect::<Vec<_>>());
            prop_assert_eq!(narrow.in_flight(), general.in_flight());
        }
    }
}

/// When `the_narrow_path_records_exactly_what_the_general_path_records` answers a round's
/// copies.
#[derive(Clone, Copy, Debug)]
enum Defer {
    /// In the round.
    No,
    /// In the next round, before that round's own copies.
    BeforeNext,
    /// In the next round, after that round's own copies.
    AfterNext,
}

/// The narrow path applies to a shadowing challenger's answer short of `min_agreeing`, and
/// hands the answer that could change its verdict (the `min_agreeing`-th compared) to the
/// general path, which promotes on it; an answer before the serving one, a late one and a
/// second one for the same copy fall back too.
#[test]
fn the_narrow_path_stops_where_the_verdict_can_change() {
    let policy = SlotPolicy { min_agreeing: 3, min_soak: 0, answer_deadline: 20, auto_promote: true, ..SlotPolicy::default() };
    let mut s = Slot::new(policy, Comparator::Exact, ExactOnly, 0).unwrap();
    let c = s.install(0).unwrap();
    let _ = s.started(c, 0).unwrap();
    let answer = message_bytes(0x40, &[7, 8]);
    let mut t = None;
    // Before the serving answer: held by the general path, not taken here.
    let m = s.request(10);
    assert_eq!(s.copy_answer(&mut t, m.request, c, 0x40, &[7, 8], 11, 1), None);
    let _ = s.answer(m.request, Responder::Module(m.serve), &answer, 12);
    // Late: past the answer deadline.
    assert_eq!(s.copy_answer(&mut t, m.request, c, 0x40, &[7, 8], 40, 1), None);
    assert_eq!(s.answer(m.request, Responder::Module(c), &answer, 13).0, Answered::Compared { agree: true });
    // Its copy was answered: a second answer is not taken.
    assert_eq!(s.copy_answer(&mut t, m.request, c, 0x40, &[7, 8], 14, 1), None);
    // The second compared request: taken.
    let m = s.request(20);
    let _ = s.answer(m.request, Responder::Module(m.serve), &answer, 21);
    assert_eq!(s.copy_answer(&mut t, m.request, c, 0x40, &[7, 8], 22, 1), Some(true));
    assert_eq!(s.module(c).unwrap().evidence.agreeing, 2);
    // The third would make it promotable (and promote it): the general path's.
    let m = s.request(30);
    let _ = s.answer(m.request, Responder::Module(m.serve), &answer, 31);
    assert_eq!(s.copy_answer(&mut t, m.request, c, 0x40, &[7, 8], 32, 1), None);
    assert_eq!(s.module(c).unwrap().evidence.agreeing, 2, "nothing recorded by the refusal");
    let (answered, out) = s.answer(m.request, Responder::Module(c), &answer, 32);
    assert_eq!(answered, Answered::Compared { agree: true });
    assert!(out.transitions.iter().any(|t| t.to == State::Promoted), "{out:?}");
    // The window is open: the warm module's answers feed the breaker, never the narrow path.
    let m = s.request(40);
    let _ = s.answer(m.request, Responder::Module(m.serve), &answer, 41);
    assert_eq!(s.copy_answer(&mut t, m.request, ORIGINAL_INCUMBENT, 0x40, &[7, 8], 42, 1), None);
}

/// A `CopyTicket` is trusted only in the generation it was issued in and for the module it
/// was issued for: after a fault, a promotion by hand or a module's rejection the narrow
/// path checks again (and refuses what no longer qualifies); another module's ticket is
/// replaced, not taken; a request the module was never sent, or a second answer to one
/// copy, is refused whatever the ticket.
#[test]
fn a_ticket_is_trusted_only_in_its_generation_and_for_its_module() {
    let policy = SlotPolicy { min_agreeing: 100, max_faults: 1, min_soak: 0, answer_deadline: 20, ..SlotPolicy::default() };
    let mut s = Slot::new(policy, Comparator::Exact, ExactOnly, 0).unwrap();
    let c = s.install(0).unwrap();
    let _ = s.started(c, 0).unwrap();
    let d = s.install(0).unwrap();
    let _ = s.started(d, 0).unwrap();
    let answer = message_bytes(0x40, &[7]);
    let (mut tc, mut td) = (None, None);
    let round = |s: &mut Slot<ExactOnly>, tc: &mut Option<CopyTicket>, td: &mut Option<CopyTicket>, now: u64| {
        let m = s.request(now);
        let _ = s.answer(m.request, Responder::Module(m.serve), &answer, now + 1);
        (m.request, s.copy_answer(tc, m.request, c, 0x40, &[7], now + 2, 1), s.copy_answer(td, m.request, d, 0x40, &[7], now + 2, 1))
    };
    let (request, taken_c, taken_d) = round(&mut s, &mut tc, &mut td, 10);
    assert_eq!((taken_c, taken_d), (Some(true), Some(true)));
    let first = tc;
    assert!(first.is_some() && first != td);
    // A second answer to the same copy, and an answer to a request never sent: refused.
    assert_eq!(s.copy_answer(&mut tc, request, c, 0x40, &[7], 13, 1), None);
    assert_eq!(s.copy_answer(&mut tc, request + 50, c, 0x40, &[7], 13, 1), None);
    // Another module's ticket: replaced by one for this module, the answer taken.
    let mut swapped = td;
    let m = s.request(20);
    let _ = s.answer(m.request, Responder::Module(m.serve), &answer, 21);
    assert_eq!(s.copy_answer(&mut swapped, m.request, c, 0x40, &[7], 22, 1), Some(true));
    assert_eq!(swapped, tc, "the same ticket as c's own (same generation, same module)");
    assert_eq!(s.copy_answer(&mut td, m.request, d, 0x40, &[7], 22, 1), Some(true));
    // A fault within the policy: a new generation; the answer is taken on a new ticket.
    let _ = s.faulted(c, 25).unwrap();
    let (_, taken_c, _) = round(&mut s, &mut tc, &mut td, 30);
    assert_eq!(taken_c, Some(true));
    assert_ne!(tc, first, "a new ticket after the fault");
    // A second fault: beyond the policy, c is rejected; its ticket is not trusted.
    let out = s.faulted(c, 35).unwrap();
    assert!(out.transitions.iter().any(|t| t.module == c && t.to == State::Rejected), "{out:?}");
    let kept = tc;
    let (_, taken_c, taken_d) = round(&mut s, &mut tc, &mut td, 40);
    assert_eq!((taken_c, taken_d), (None, Some(true)));
    assert_eq!(tc, kept, "a refusal leaves the ticket as it was");
    // d promoted by hand: the window is open, d's ticket no longer applies.
    let _ = s.promote(d, PromoteMode::Forced, 45).unwrap();
    let m = s.request(50);
    let _ = s.answer(m.request, Responder::Module(m.serve), &answer, 51);
    assert_eq!(s.copy_answer(&mut td, m.request, d, 0x40, &[7], 52, 1), None);
    assert_eq!(s.copy_answer(&mut td, m.request, ORIGINAL_INCUMBENT, 0x40, &[7], 52, 1), None);
}

/// A wrong answer on the narrow path is counted as disagreeing, whatever is wrong in it: a
/// word, the label, the length.
#[test]
fn the_narrow_path_counts_every_kind_of_difference() {
    let policy = SlotPolicy { min_agreeing: 100, min_soak: 0, answer_deadline: 20, ..SlotPolicy::default() };
    let mut s = Slot::new(policy, Comparator::Exact, ExactOnly, 0).unwrap();
    let c = s.install(0).unwrap();
    let _ = s.started(c, 0).unwrap();
    let answer = message_bytes(0x40, &[7, 8]);
    let mut t = None;
    let replies: [(u64, &[u64], bool); 6] = [
        (0x40, &[7, 8], true),
        (0x40, &[7, 9], false),
        (0x41, &[7, 8], false),
        (0x40, &[7, 8, 0], false),
        (0x40, &[7], false),
        (0x40, &[], false),
    ];
    for (n, (label, words, agrees)) in replies.into_iter().enumerate() {
        let now = 10 * n as u64 + 10;
        let m = s.request(now);
        let _ = s.answer(m.request, Responder::Module(m.serve), &answer, now + 1);
        assert_eq!(s.copy_answer(&mut t, m.request, c, label, words, now + 2, 1), Some(agrees), "{label:#x} {words:?}");
    }
    let evidence = s.module(c).unwrap().evidence;
    assert_eq!((evidence.agreeing, evidence.disagreeing), (1, 5));
}

/// Requests in flight together, their copies answered out of order on the narrow path (the
/// later request's first, then the earlier's, the second challenger's before the first's):
/// a copy that is not the last pending of its exchange, and an exchange finished while a
/// later one is still in flight (recycled from the middle of the live ones), are recorded
/// and recycled exactly as the general path does; a second answer to a copy, an answer
/// with a word too many and one to a request never sent fall back with nothing changed.
#[test]
fn out_of_order_copies_on_the_narrow_path_record_what_the_general_path_records() {
    let policy = SlotPolicy { min_agreeing: 100, min_soak: 0, answer_deadline: 50, ..SlotPolicy::default() };
    let mut narrow = Slot::new(policy, Comparator::Exact, ExactOnly, 0).unwrap();
    let (c, d) = (narrow.install(0).unwrap(), narrow.install(0).unwrap());
    let _ = narrow.started(c, 0).unwrap();
    let _ = narrow.started(d, 0).unwrap();
    let mut general = narrow.clone();
    let answer = message_bytes(0x40, &[7]);
    let mut requests = Vec::new();
    for now in [10, 11, 12] {
        let m = narrow.request(now);
        assert_eq!(m, general.request(now));
        for s in [&mut narrow, &mut general] {
            let _ = s.answer(m.request, Responder::Module(m.serve), &answer, now + 1);
        }
        requests.push(m.request);
    }
    let (mut tc, mut td) = (None, None);
    // Request 2's copies (d first), then request 0's, then request 1's; latencies differ.
    for (k, &(r, module)) in [(2, d), (2, c), (0, d), (0, c), (1, c), (1, d)].iter().enumerate() {
        let request = requests[r];
        let (now, worked) = (20 + k as u64, 1 + k as u64);
        let words: &[u64] = if k == 3 { &[8] } else { &[7] };
        let ticket = if module == c { &mut tc } else { &mut td };
        let agree = narrow.copy_answer(ticket, request, module, 0x40, words, now, worked);
        let expected = general.answer_worked(request, Responder::Module(module), &message_bytes(0x40, words), now, Some(worked));
        assert_eq!(agree.map(|agree| (Answered::Compared { agree }, Outcome::default())), Some(expected));
        assert_eq!(format!("{narrow:?}"), format!("{general:?}"), "after answer {k}");
        assert_eq!(narrow.in_flight(), [3, 2, 2, 1, 1, 0][k], "after answer {k}");
        // Twice, a word too many (to a copy already answered), a request never sent: refused.
        let before = format!("{narrow:?}");
        assert_eq!(narrow.copy_answer(ticket, request, module, 0x40, words, now, worked), None);
        assert_eq!(narrow.copy_answer(ticket, request, module, 0x40, &[7, 0], now, worked), None);
        assert_eq!(narrow.copy_answer(ticket, requests[2] + 10, module, 0x40, words, now, worked), None);
        assert_eq!(before, format!("{narrow:?}"), "nothing changed by the refusals");
    }
    assert_eq!(narrow.in_flight(), 0);
    let evidence = narrow.module(c).unwrap().evidence;
    assert_eq!((evidence.agreeing, evidence.disagreeing, evidence.latency.samples), (2, 1, 3));
}

/// An exchange is looked for at its request's index among the live ones first; once a
/// later request's exchange finished before an older one (and was recycled from the middle),
/// the exchanges after it sit below their index and are found there, on the narrow path and
/// on the general one alike: every copy's answer is compared, none is `Unexpected`.
#[test]
fn exchanges_after_one_that_finished_out_of_order_are_found_below_their_index() {
    let policy = SlotPolicy { min_agreeing: 100, min_soak: 0, answer_deadline: 50, ..SlotPolicy::default() };
    let mut narrow = Slot::new(policy, Comparator::Exact, ExactOnly, 0).unwrap();
    let c = narrow.install(0).unwrap();
    let _ = narrow.started(c, 0).unwrap();
    let mut general = narrow.clone();
    let answer = message_bytes(0x40, &[7]);
    let mut requests = Vec::new();
    for now in [10, 11, 12, 13, 14] {
        let m = narrow.request(now);
        assert_eq!(m, general.request(now));
        for s in [&mut narrow, &mut general] {
            let _ = s.answer(m.request, Responder::Module(m.serve), &answer, now + 1);
        }
        requests.push(m.request);
    }
    let mut ticket = None;
    // Request 1's copy first (its exchange leaves the middle), then 3's (two places below
    // its index), 2's, 4's, 0's.
    for (k, r) in [1, 3, 2, 4, 0].into_iter().enumerate() {
        let now = 20 + k as u64;
        assert_eq!(narrow.copy_answer(&mut ticket, requests[r], c, 0x40, &[7], now, 1), Some(true), "request {r}");
        let (answered, _) = general.answer_worked(requests[r], Responder::Module(c), &answer, now, Some(1));
        assert_eq!(answered, Answered::Compared { agree: true }, "request {r}");
        assert_eq!(format!("{narrow:?}"), format!("{general:?}"), "after request {r}");
        assert_eq!(narrow.in_flight(), 4 - k);
    }
    assert_eq!(narrow.module(c).unwrap().evidence.agreeing, 5);
}

/// One event of `skipping_a_batch_records_exactly_what_skipping_each_records`.
#[derive(Clone, Debug)]
enum SkipEvent {
    /// A request; its serving answer now or never (left in flight), and its copies answered
    /// (agreeing) or not.
    Request { served: bool, copies_answered: bool },
    /// A copy of each of these (as offsets back from the newest request; the last `extra`
    /// numbers past it too, never made) skipped for the module at this index of the table's
    /// (or the replica), in that order: in one batch on one slot, one by one on the other.
    Skip { back: Vec<u64>, responder: usize, extra: u64 },
    /// The same for the last `n` requests, oldest first or newest first.
    SkipRun { n: u64, responder: usize, newest_first: bool },
    /// `n` requests served at once, their copies not answered.
    Burst(u64),
    /// A challenger installed and started.
    Install,
    /// The last mirrored challenger promoted by force (a rollback window opens).
    Promote,
    /// A rollback.
    Rollback,
    /// The first mirrored module faults.
    Fault,
    /// The clock advances by this much and ticks.
    Tick(u64),
}

fn skip_event() -> impl Strategy<Value = SkipEvent> {
    prop_oneof![
        8 => (prop_oneof![4 => Just(true), 1 => Just(false)], any::<bool>())
            .prop_map(|(served, copies_answered)| SkipEvent::Request { served, copies_answered }),
        4 => (proptest::collection::vec(0u64..100, 0..80), 0usize..4, 0u64..3)
            .prop_map(|(back, responder, extra)| SkipEvent::Skip { back, responder, extra }),
        2 => (0u64..100, 0usize..4, any::<bool>())
            .prop_map(|(n, responder, newest_first)| SkipEvent::SkipRun { n, responder, newest_first }),
        1 => (0u64..90).prop_map(SkipEvent::Burst),
        1 => Just(SkipEvent::Install),
        1 => Just(SkipEvent::Promote),
        1 => Just(SkipEvent::Rollback),
        1 => Just(SkipEvent::Fault),
        1 => (0u64..30).prop_map(SkipEvent::Tick),
    ]
}

proptest! {
    /// `Slot::copies_skipped` of a run of requests changes the slot exactly as
    /// `Slot::copy_skipped` of each in turn does, and its outcome is theirs, in order (the
    /// slot manager settles a catch-up's held copies with it, `slots45`). Two slots get the
    /// same events; each skip is a batch on one and copy by copy on the other, of requests
    /// in flight, finished, never made, repeated and out of order, for the warm module, the
    /// promoted one, a challenger or the replica, with challengers that are still judged
    /// (the one-by-one path) or not, exchanges held open by a serving answer that never
    /// came, and more than `SPARE_EXCHANGES` finishing at once. The `Debug` (every module,
    /// every exchange's marks, the spares' order) is compared after every event.
    #[test]
    fn skipping_a_batch_records_exactly_what_skipping_each_records(
        min_agreeing in 1u64..6,
        noise: bool,
        auto_promote: bool,
        events in proptest::collection::vec(skip_event(), 0..200),
    ) {
        let policy = SlotPolicy {
            min_agreeing, max_faults: 1, min_soak: 0, answer_deadline: 400, rollback_window: 300, auto_promote,
            ..SlotPolicy::default()
        };
        let comparator = if noise { Comparator::NoiseCancelled } else { Comparator::Exact };
        let mut batch = Slot::new(policy, comparator, ExactOnly, 0).unwrap();
        let mut each = batch.clone();
        let mut now = 0;
        let mut newest: Option<RequestId> = None;
        let mut mirrored: Vec<ModuleId> = Vec::new();
        let answer = message_bytes(0x40, &[1]);
        for event in events {
            now += 1;
            match event {
                SkipEvent::Request { served, copies_answered } => {
                    let m = batch.request(now);
                    prop_assert_eq!(&m, &each.request(now));
                    newest = Some(m.request);
                    mirrored = batch.mirrored().to_vec();
                    if served {
                        let serve = |s: &mut Slot<ExactOnly>| s.answer(m.request, Responder::Module(m.serve), &answer, now);
                        prop_assert_eq!(serve(&mut batch), serve(&mut each));
                    }
                    if copies_answered {
                        let from: Vec<Responder> = m.replica.then_some(Responder::Replica).into_iter()
                            .chain(mirrored.iter().map(|&c| Responder::Module(c))).collect();
                        for r in from {
                            prop_assert_eq!(batch.answer(m.request, r, &answer, now), each.answer(m.request, r, &answer, now));
                        }
                    }
                }
                SkipEvent::Skip { .. } | SkipEvent::SkipRun { .. } => {
                    let Some(last) = newest else { continue };
                    let (requests, responder): (Vec<RequestId>, usize) = match event {
                        SkipEvent::Skip { back, responder, extra } => (
                            back.iter().filter_map(|b| last.checked_sub(*b)).chain((1..=extra).map(|k| last + k)).collect(),
                            responder,
                        ),
                        SkipEvent::SkipRun { n, responder, newest_first } => {
                            let mut run: Vec<RequestId> = (last.saturating_sub(n)..=last).collect();
                            if newest_first {
                                run.reverse();
                            }
                            (run, responder)
                        }
                        _ => unreachable!(),
                    };
                    let modules: Vec<ModuleId> = batch.modules().map(|m| m.id).collect();
                    let from = modules.get(responder).map_or(Responder::Replica, |&id| Responder::Module(id));
                    let out = batch.copies_skipped(&requests, from, now);
                    let mut expected = Outcome::default();
                    for &request in &requests {
                        let more = each.copy_skipped(request, from, now);
                        expected.transitions.extend(more.transitions);
                        expected.deliver.extend(more.deliver);
                        expected.reissue.extend(more.reissue);
                    }
                    prop_assert_eq!(out, expected);
                }
                SkipEvent::Burst(n) => {
                    for _ in 0..n {
                        let m = batch.request(now);
                        prop_assert_eq!(&m, &each.request(now));
                        newest = Some(m.request);
                        mirrored = batch.mirrored().to_vec();
                        let serve = |s: &mut Slot<ExactOnly>| s.answer(m.request, Responder::Module(m.serve), &answer, now);
                        prop_assert_eq!(serve(&mut batch), serve(&mut each));
                    }
                }
                SkipEvent::Install => {
                    if batch.install(now).is_ok() {
                        let c = each.install(now).unwrap();
                        prop_assert_eq!(batch.started(c, now), each.started(c, now));
                    }
                }
                SkipEvent::Promote => {
                    if let Some(&c) = mirrored.last() {
                        prop_assert_eq!(batch.promote(c, PromoteMode::Forced, now), each.promote(c, PromoteMode::Forced, now));
                    }
                }
                SkipEvent::Rollback => prop_assert_eq!(batch.rollback(now), each.rollback(now)),
                SkipEvent::Fault => {
                    if let Some(&c) = mirrored.first() {
                        prop_assert_eq!(batch.faulted(c, now), each.faulted(c, now));
                    }
                }
                SkipEvent::Tick(by) => {
                    now += by;
                    prop_assert_eq!(batch.tick(now), each.tick(now));
                }
            }
            prop_assert_eq!(format!("{:?}", &batch), format!("{:?}", &each));
            prop_assert_eq!(batch.counters(), each.counters());
        }
    }
}
