//! Adapters as slot challengers: the state machine (promotion after the minimum of live
//! questions within the margin, rejection, rollback in the window, settling), its
//! canonical record and hostile records (each refused naming the field), and the desk's
//! choice of challengeable slots on the dev tile's policy; each decision's ledger step
//! (`tileos_verify::ledger::ChallengeEntry`) beside answers, checked and restored.

use tileos_verify::knowledge::WritePolicy;
use tileos_verify_service::challenge::{Adapter, Challenge, ChallengeError, Phase, Rule, Step, Tally};
use tileos_verify_service::desk::{Desk, DeskError, tile_canaries};
use tileos_verify_service::dev_keys::{self, TILE_POLICY};

const RULE: Rule = Rule { min_live: 4, margin_ppm: 100_000, window: 4 };

fn adapter(name: &str, byte: u8) -> Adapter {
    Adapter { name: name.into(), digest: [byte; 32] }
}

fn started() -> Challenge {
    Challenge::start("t1", adapter("t1", 1), adapter("t1b", 2), None, 10).unwrap()
}

/// Feeds `(serving passed, shadow passed)` pairs, one ledger entry each, from ledger size
/// `at`; returns the state and the steps.
fn run(mut c: Challenge, mut at: u64, answers: &[(bool, bool)]) -> (Challenge, Vec<Step>) {
    let mut steps = Vec::new();
    for &(serving, shadow) in answers {
        at += 1;
        let (next, step) = c.observe(serving, shadow, at, &RULE).expect("running");
        c = next;
        steps.push(step);
    }
    (c, steps)
}

#[test]
fn a_challenger_not_worse_is_promoted_after_the_minimum_and_serves() {
    let c = started();
    assert_eq!((c.serving().name.as_str(), c.shadow().map(|a| a.name.as_str())), ("t1", Some("t1b")));
    // Incumbent 2 of 4, challenger 2 of 4 (equal): promoted at the fourth question only.
    let (c, steps) = run(c, 10, &[(true, false), (false, true), (true, true), (false, false)]);
    assert_eq!(steps, [Step::Tallied, Step::Tallied, Step::Tallied, Step::Promoted]);
    assert_eq!(c.phase, Phase::Promoted);
    assert_eq!(c.shadow, [Tally { asked: 4, passed: 2 }, Tally { asked: 4, passed: 2 }]);
    assert_eq!(c.decided_at, Some(14));
    // Now the challenger serves, and the old incumbent (its digest kept) is the shadow.
    assert_eq!(c.serving(), &adapter("t1b", 2));
    assert_eq!(c.shadow(), Some(&adapter("t1", 1)));
}

#[test]
fn a_challenger_below_the_margin_is_rejected_and_never_serves() {
    // Incumbent 3 of 4, challenger 2 of 4: 0.25 below, beyond the 0.1 margin.
    let (c, steps) = run(started(), 10, &[(true, true), (true, false), (true, true), (false, false)]);
    assert_eq!(steps.last(), Some(&Step::Rejected));
    assert_eq!((c.phase, c.serving().name.as_str(), c.shadow()), (Phase::Rejected, "t1", None));
    assert_eq!(c.observe(true, true, 20, &RULE), None, "a decided challenge takes no more evidence");
    // Within the margin (a margin of 0.25 admits 0.25 below) it would have been promoted.
    let wide = Rule { margin_ppm: 250_000, ..RULE };
    let mut c = started();
    for (i, &(a, b)) in [(true, true), (true, false), (true, true), (false, false)].iter().enumerate() {
        c = c.observe(a, b, 11 + i as u64, &wide).unwrap().0;
    }
    assert_eq!(c.phase, Phase::Promoted);
}

#[test]
fn a_promotion_whose_pass_rate_falls_in_the_window_is_rolled_back() {
    let (c, _) = run(started(), 10, &[(true, true); 4]);
    assert_eq!(c.phase, Phase::Promoted);
    // In the window the promoted challenger (serving) passes 1 of 4, the old incumbent 4.
    let (c, steps) = run(c, 14, &[(false, true), (true, true), (false, true), (false, true)]);
    assert_eq!(steps, [Step::Tallied, Step::Tallied, Step::Tallied, Step::RolledBack]);
    assert_eq!(c.phase, Phase::RolledBack);
    assert_eq!(c.window, [Tally { asked: 4, passed: 1 }, Tally { asked: 4, passed: 4 }]);
    assert_eq!((c.serving(), c.shadow(), c.ended_at), (&adapter("t1", 1), None, Some(18)));
}

#[test]
fn a_promotion_that_holds_through_the_window_settles() {
    let (c, _) = run(started(), 10, &[(false, true); 4]);
    let (c, steps) = run(c, 14, &[(true, true), (true, false), (false, true), (true, true)]);
    assert_eq!(steps.last(), Some(&Step::Settled));
    assert_eq!((c.phase, c.serving(), c.shadow()), (Phase::Settled, &adapter("t1b", 2), None));
    // A new challenge of the slot may start now, against the settled adapter.
    let next = Challenge::start("t1", c.serving().clone(), adapter("t1c", 3), Some(&c), 18).unwrap();
    assert_eq!(next.incumbent, adapter("t1b", 2));
}

#[test]
fn starts_that_make_no_sense_are_refused() {
    let c = started();
    assert_eq!(Challenge::start("t1", adapter("t1", 1), adapter("t1b", 2), Some(&c), 0), Err(ChallengeError::Running(Phase::Shadowing)));
    assert_eq!(Challenge::start("t1", adapter("t1", 1), adapter("t1", 2), None, 0), Err(ChallengeError::SameAdapter));
    // Another name for the very same file is the same adapter.
    assert_eq!(Challenge::start("t1", adapter("t1", 1), adapter("copy", 1), None, 0), Err(ChallengeError::SameAdapter));
    assert_eq!(Challenge::start("", adapter("t1", 1), adapter("t1b", 2), None, 0), Err(ChallengeError::BadName("slot")));
    let long = "x".repeat(33);
    assert_eq!(Challenge::start("t1", adapter("t1", 1), adapter(&long, 2), None, 0), Err(ChallengeError::BadName("challenger")));
    assert_eq!(Challenge::start("t1", adapter("t1", 1), adapter("t 1", 2), None, 0), Err(ChallengeError::BadName("challenger")));
}

#[test]
fn every_phase_round_trips_through_its_canonical_record() {
    let shadowing = run(started(), 10, &[(true, false)]).0;
    let promoted = run(started(), 10, &[(true, true); 4]).0;
    let rejected = run(started(), 10, &[(true, false); 4]).0;
    let settled = run(promoted.clone(), 14, &[(true, true); 4]).0;
    let rolled = run(promoted.clone(), 14, &[(false, true); 4]).0;
    for c in [started(), shadowing, promoted, rejected, settled, rolled] {
        assert_eq!(Challenge::decode(&c.encode(), &RULE), Ok(c.clone()), "{:?}", c.phase);
    }
}

#[test]
fn hostile_records_are_refused_naming_the_field() {
    let promoted = run(started(), 10, &[(true, true); 4]).0;
    let good = promoted.encode();
    // Every truncation.
    for len in 0..good.len() {
        assert!(matches!(Challenge::decode(&good[..len], &RULE), Err(ChallengeError::Truncated(_))), "truncated at {len}");
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(Challenge::decode(&trailing, &RULE), Err(ChallengeError::Trailing(1)));
    let mut v = good.clone();
    v[0] = 2;
    assert_eq!(Challenge::decode(&v, &RULE), Err(ChallengeError::Version(2)));
    // Offsets: version, "t1" (1+2), "t1" (1+2), "t1b" (1+3), two digests, then the phase.
    let phase_at = 1 + 3 + 3 + 4 + 64;
    let mut p = good.clone();
    p[phase_at] = 9;
    assert_eq!(Challenge::decode(&p, &RULE), Err(ChallengeError::PhaseByte(9)));
    // A name with a space, and an empty one.
    let mut n = good.clone();
    n[2] = b' ';
    assert_eq!(Challenge::decode(&n, &RULE), Err(ChallengeError::BadName("slot")));
    let mut e = good.clone();
    e[1] = 0;
    assert!(Challenge::decode(&e, &RULE).is_err());
    // Forged tallies: more passed than asked; a promotion the tallies do not support
    // (challenger 0 of 4 against 4 of 4); uneven counts.
    let tally_at = phase_at + 1;
    let mut t = good.clone();
    t[tally_at + 7] = 5;
    assert_eq!(Challenge::decode(&t, &RULE), Err(ChallengeError::Inconsistent("tally")));
    let mut forged = promoted.clone();
    forged.shadow[1].passed = 0;
    assert_eq!(Challenge::decode(&forged.encode(), &RULE), Err(ChallengeError::Inconsistent("tally")));
    let mut uneven = promoted.clone();
    uneven.shadow[1] = Tally { asked: 3, passed: 3 };
    assert_eq!(Challenge::decode(&uneven.encode(), &RULE), Err(ChallengeError::Inconsistent("tally")));
    // Promoted before the minimum of live questions.
    let mut early = promoted.clone();
    early.shadow = [Tally { asked: 2, passed: 2 }; 2];
    assert_eq!(Challenge::decode(&early.encode(), &RULE), Err(ChallengeError::Inconsistent("tally")));
    // Marks: a promotion without its decision mark, a decision before the start.
    let mut unmarked = promoted.clone();
    unmarked.decided_at = None;
    assert_eq!(Challenge::decode(&unmarked.encode(), &RULE), Err(ChallengeError::Inconsistent("ledger marks")));
    let mut backwards = promoted.clone();
    backwards.decided_at = Some(3);
    assert_eq!(Challenge::decode(&backwards.encode(), &RULE), Err(ChallengeError::Inconsistent("ledger marks")));
    // A flag byte other than 0 or 1 (the decision mark follows the start's 8 bytes).
    let mut flag = good.clone();
    flag[tally_at + 32 + 8] = 7;
    assert_eq!(Challenge::decode(&flag, &RULE), Err(ChallengeError::Flag("decided_at")));
    // Incumbent and challenger the same file.
    let mut same = promoted.clone();
    same.challenger.digest = same.incumbent.digest;
    assert_eq!(Challenge::decode(&same.encode(), &RULE), Err(ChallengeError::SameAdapter));
    // A record of another rule's window (6 questions) does not restore under this rule.
    let six = Rule { min_live: 6, ..RULE };
    assert_eq!(Challenge::decode(&good, &six), Err(ChallengeError::Inconsistent("tally")));
}

/// The dev tile's desk (its signed policy, no knowledge writers).
fn tile_desk() -> Desk {
    let sig = dev_keys::tile_policy_signature().unwrap();
    Desk::new(
        TILE_POLICY.as_bytes(),
        &sig,
        &dev_keys::policy_signer().verifying_key(),
        WritePolicy { grants: vec![] },
        dev_keys::ledger_key(),
        tile_canaries(1000),
    )
    .unwrap()
}

#[test]
fn only_slots_of_checkable_topics_can_be_challenged_on_the_tile() {
    let desk = tile_desk();
    assert_eq!(desk.challengeable("t1"), Ok(()));
    assert_eq!(desk.challengeable("t2"), Err(DeskError::NotChallengeable { slot: "t2".into(), topic: "text".into() }));
    assert_eq!(desk.challengeable("t3"), Err(DeskError::NotChallengeable { slot: "t3".into(), topic: "policy".into() }));
    assert_eq!(desk.challengeable("t1b"), Err(DeskError::NoSlot("t1b".into())));
    assert_eq!(desk.passes("12+7", "19"), Ok(true));
    assert_eq!(desk.passes("12+7", "22"), Ok(false));
    assert_eq!(desk.passes("12+7", "approved"), Ok(false));
    assert!(matches!(desk.passes("describe a river", "cold"), Err(DeskError::NotCheckable(_))));
}

#[test]
fn each_decision_is_a_ledger_step_with_both_digests_and_its_evidence_and_restores() {
    use tileos_verify::ledger::{ChallengeStep, Evidence, Logged, verify_logged_any};
    // Promoted at the fourth question (incumbent 2 of 4, challenger 4 of 4), then rolled
    // back (promoted 0 of 4, old 4 of 4); only decisions are ledger steps.
    let start = started();
    let (promoted, steps) = run(start.clone(), 10, &[(true, true), (false, true), (true, true), (false, true)]);
    assert_eq!(steps.iter().map(|s| s.logged()).collect::<Vec<_>>(), [None, None, None, Some(ChallengeStep::Promoted)]);
    let (rolled, steps) = run(promoted.clone(), 15, &[(false, true); 4]);
    assert_eq!(steps.last().and_then(|s| s.logged()), Some(ChallengeStep::RolledBack));
    assert_eq!(Step::Settled.logged(), Some(ChallengeStep::Settled));
    assert_eq!(Step::Rejected.logged(), Some(ChallengeStep::Rejected));

    let e = promoted.ledger_entry(ChallengeStep::Promoted);
    assert_eq!((e.slot.as_str(), e.incumbent.name.as_str(), e.incumbent.digest), ("t1", "t1", [1; 32]));
    assert_eq!((e.challenger.name.as_str(), e.challenger.digest), ("t1b", [2; 32]));
    assert_eq!(e.shadow, [Evidence { asked: 4, passed: 2 }, Evidence { asked: 4, passed: 4 }]);
    assert_eq!(e.window, [Evidence::default(); 2]);
    let r = rolled.ledger_entry(ChallengeStep::RolledBack);
    assert_eq!(r.window, [Evidence { asked: 4, passed: 0 }, Evidence { asked: 4, passed: 4 }]);

    // In the desk's ledger beside answers: checked on the host, and restored from the
    // stored bytes of either kind.
    let mut d = tile_desk();
    let steps = [start.ledger_entry(ChallengeStep::Started), e, r];
    for s in &steps {
        d.commit_step(s).unwrap();
    }
    let mut again = tile_desk();
    for (i, s) in steps.iter().enumerate() {
        let (proof, head) = d.prove(i as u64, 5).unwrap();
        let logged = verify_logged_any(d.entry(i as u64).unwrap(), &proof, &head, &dev_keys::ledger_key().verifying_key()).unwrap();
        assert_eq!(logged, Logged::Challenge(s.clone()));
        again.restore_entry(d.entry(i as u64).unwrap()).unwrap();
    }
    assert_eq!(again.prove(2, 5).unwrap().1, d.prove(2, 5).unwrap().1, "same signed head after the restore");
    let mut unknown = d.entry(1).unwrap().to_vec();
    unknown[0] = 9;
    assert!(matches!(again.restore_entry(&unknown), Err(DeskError::StoredEntry(tileos_verify::wire::WireError::BadValue("kind")))));
}
