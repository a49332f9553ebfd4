//! Plane B audits through the desk on the dev tile's policy and canaries: plan, check,
//! apply and restore; the overfit penalty on the tile's own canary set; canary retirement;
//! and hostile records, each refused with its precise error and nothing changed.

use tileos_verify::canary::{Pool, Tallies};
use tileos_verify_service::audit::{AuditRecord, MAX_AUDIT, RecordError};
use tileos_verify_service::desk::{Desk, DeskError, tile_canaries};
use tileos_verify_service::dev_keys::{self, TILE_POLICY};

fn desk() -> Desk {
    let sig = dev_keys::tile_policy_signature().expect("signature file");
    Desk::new(
        TILE_POLICY.as_bytes(),
        &sig,
        &dev_keys::policy_signer().verifying_key(),
        Default::default(),
        dev_keys::ledger_key(),
        tile_canaries(u64::MAX),
    )
    .unwrap()
}

/// The right answer to a tile canary's question (`a+b`, `a-b`, `N km in m`).
fn right(question: &str) -> String {
    if let Some(n) = question.strip_suffix(" km in m") {
        return (n.parse::<u64>().unwrap() * 1000).to_string();
    }
    let (a, op, b) = question.find(['+', '-']).map(|i| (&question[..i], &question[i..i + 1], &question[i + 1..])).unwrap();
    let (a, b) = (a.parse::<i64>().unwrap(), b.parse::<i64>().unwrap());
    (if op == "+" { a + b } else { a - b }).to_string()
}

/// Plans, checks and applies an audit whose answers `answer` gives.
fn audit(
    d: &mut Desk,
    node: &str,
    topic: &str,
    (pool, count): (Pool, usize),
    (time, seed): (u64, u8),
    answer: impl Fn(&str) -> String,
) -> Result<(AuditRecord, tileos_verify_service::desk::AuditOutcome), DeskError> {
    let time = d.audit_clock(time);
    let planned = d.plan_audit(node, topic, pool, count, time, &[seed; 32])?;
    let record = AuditRecord {
        time,
        node: node.into(),
        topic: topic.into(),
        pool,
        seed: [seed; 32],
        answers: planned.iter().map(|(id, q)| (*id, answer(q))).collect(),
    };
    d.check_audit(&record)?;
    let outcome = d.apply_audit(&record)?;
    Ok((record, outcome))
}

#[test]
fn an_audit_scores_the_answers_moves_reputation_and_restores_from_its_bytes() {
    let mut d = desk();
    let before = d.standing("t1", "arith", 0).unwrap();
    assert_eq!(before.tallies, Tallies::default());
    let planned = d.plan_audit("t1", "arith", Pool::Public, 4, 10, &[1; 32]).unwrap();
    assert_eq!(planned, d.plan_audit("t1", "arith", Pool::Public, 4, 10, &[1; 32]).unwrap(), "planning reveals nothing");
    // Right on the first two, wrong on the others.
    let questions: Vec<String> = planned.iter().map(|(_, q)| q.clone()).collect();
    let (record, outcome) = audit(&mut d, "t1", "arith", (Pool::Public, 4), (10, 1), |q| {
        if questions[..2].iter().any(|x| x == q) { right(q) } else { "7777".into() }
    })
    .unwrap();
    assert_eq!(outcome.index, 0);
    assert_eq!(outcome.scores.iter().map(|s| s.passed).collect::<Vec<_>>(), [true, true, false, false]);
    assert!(outcome.scores.iter().all(|s| s.pool == Pool::Public));
    let after = d.standing("t1", "arith", 10).unwrap();
    assert_eq!((after.tallies.public_scored, after.tallies.public_passed, after.tallies.secret_scored), (4, 2, 0));
    assert!(after.reputation > 0.0, "{after:?}");
    assert_eq!(d.standing("t1", "units", 10).unwrap().tallies, Tallies::default(), "per topic");
    // A secret-reserve audit tallies but earns nothing.
    let (_, secret) = audit(&mut d, "t1", "arith", (Pool::Secret, 3), (20, 2), right).unwrap();
    assert!(secret.scores.iter().all(|s| s.passed && s.pool == Pool::Secret));
    let later = d.standing("t1", "arith", 20).unwrap();
    assert_eq!((later.tallies.secret_scored, later.tallies.secret_passed), (3, 3));
    assert!(later.reputation <= after.reputation, "blind audits are not reward-bearing: {later:?} vs {after:?}");
    // The bytes restore the same standing on a fresh desk.
    let bytes = record.encode();
    assert_eq!(AuditRecord::decode(&bytes), Ok(record.clone()));
    let mut fresh = desk();
    assert_eq!(fresh.restore_audit(&bytes).unwrap().scores, outcome.scores);
    assert_eq!(fresh.standing("t1", "arith", 10).unwrap(), after);
    assert_eq!(fresh.audits(), 1);
}

#[test]
fn the_overfit_penalty_fires_on_the_tiles_canaries() {
    let mut d = desk();
    // Every public canary right, every secret one wrong: 8 of each fill both tallies.
    let (_, public) = audit(&mut d, "t1", "arith", (Pool::Public, 8), (1, 3), right).unwrap();
    assert!(public.overfit.is_none() && public.scores.iter().all(|s| s.passed));
    let rewarded = d.standing("t1", "arith", 1).unwrap().reputation;
    let (_, secret) = audit(&mut d, "t1", "arith", (Pool::Secret, 8), (2, 4), |_| "0".into()).unwrap();
    let finding = secret.overfit.expect("a gap of 1.0 is overfitting");
    assert_eq!((finding.public_rate, finding.secret_rate), (1.0, 0.0));
    let slashed = d.standing("t1", "arith", 2).unwrap();
    assert_eq!(slashed.tallies, Tallies { overfits: 1, ..Tallies::default() });
    assert!(slashed.reputation < rewarded / 5.0, "{slashed:?} vs {rewarded}");
}

#[test]
fn canaries_retire_after_their_reveals_and_then_no_audit_is_possible() {
    let mut d = desk();
    // units has 5 public canaries, each revealed at most 4 times: 20 draws in all.
    let mut drawn = 0;
    for seed in 0..10 {
        match audit(&mut d, "t1", "units", (Pool::Public, MAX_AUDIT), (5, seed), right) {
            Ok((_, o)) => drawn += o.scores.len(),
            Err(e) => {
                assert_eq!(e, DeskError::NoCanary { topic: "units".into(), pool: Pool::Public });
                break;
            }
        }
    }
    assert_eq!(drawn, 20);
    assert_eq!(d.standing("t1", "units", 5).unwrap().tallies.public_scored, 20);
}

#[test]
fn hostile_audits_are_refused_precisely_and_change_nothing() {
    let mut d = desk();
    let (record, _) = audit(&mut d, "t1", "arith", (Pool::Public, 2), (100, 5), right).unwrap();
    let standing = d.standing("t1", "arith", 100).unwrap();
    let unknown = d.plan_audit("t9", "arith", Pool::Public, 2, 100, &[0; 32]);
    assert_eq!(unknown, Err(DeskError::UnknownSpecialist("t9".into())));
    let not_its = d.plan_audit("t2", "arith", Pool::Public, 2, 100, &[0; 32]);
    assert_eq!(not_its, Err(DeskError::NotItsTopic { specialist: "t2".into(), topic: "arith".into() }));
    let no_topic = d.plan_audit("t1", "astrology", Pool::Public, 2, 100, &[0; 32]);
    assert!(matches!(no_topic, Err(DeskError::NotItsTopic { .. })));
    assert_eq!(d.plan_audit("t1", "arith", Pool::Public, 0, 100, &[0; 32]), Err(DeskError::AuditCount(0)));
    assert_eq!(d.plan_audit("t1", "arith", Pool::Public, MAX_AUDIT + 1, 100, &[0; 32]), Err(DeskError::AuditCount(MAX_AUDIT + 1)));
    // Records: another canary than the seed draws, an earlier time, an overlong answer,
    // no answers, another specialist's topic.
    let refuse = |d: &mut Desk, r: AuditRecord, e: DeskError| {
        assert_eq!(d.check_audit(&r), Err(e.clone()));
        assert_eq!(d.apply_audit(&r).map(|_| ()), Err(e));
    };
    let mut swapped = record.clone();
    swapped.answers[0].0 = swapped.answers[0].0.wrapping_add(1);
    refuse(&mut d, swapped, DeskError::AuditMismatch);
    let mut earlier = record.clone();
    earlier.time = 99;
    refuse(&mut d, earlier, DeskError::AuditTime { time: 99, latest: 100 });
    let mut long = record.clone();
    long.answers[0].1 = "9".repeat(65);
    refuse(&mut d, long, DeskError::AnswerTooLong(65));
    let mut none = record.clone();
    none.answers.clear();
    refuse(&mut d, none, DeskError::AuditCount(0));
    let mut other = record.clone();
    other.node = "t3".into();
    refuse(&mut d, other, DeskError::NotItsTopic { specialist: "t3".into(), topic: "arith".into() });
    // Stored bytes: each malformation named.
    let bytes = record.encode();
    let stored = |d: &mut Desk, b: &[u8], e: RecordError| assert_eq!(d.restore_audit(b).map(|_| ()), Err(DeskError::StoredAudit(e)));
    stored(&mut d, &[], RecordError::Truncated("version"));
    stored(&mut d, &bytes[..bytes.len() - 1], RecordError::Truncated("answer"));
    stored(&mut d, &[bytes.as_slice(), &[0]].concat(), RecordError::Trailing(1));
    let mut b = bytes.clone();
    b[0] = 2;
    stored(&mut d, &b, RecordError::Version(2));
    let mut b = bytes.clone();
    b[9] = 7;
    stored(&mut d, &b, RecordError::Pool(7));
    let mut b = bytes.clone();
    b[42] = 200;
    stored(&mut d, &b, RecordError::TooLong("node"));
    let mut b = bytes.clone();
    b[43] = 0xff;
    stored(&mut d, &b, RecordError::NotUtf8("node"));
    let count_at = 42 + 1 + 2 + 1 + 5;
    let mut b = bytes.clone();
    b[count_at] = 0;
    stored(&mut d, &b, RecordError::Count(0));
    b[count_at] = 9;
    stored(&mut d, &b, RecordError::Count(9));
    assert_eq!(d.standing("t1", "arith", 100).unwrap(), standing, "nothing changed");
    assert_eq!(d.audits(), 1);
    assert!(matches!(d.standing("t9", "arith", 100), Err(DeskError::UnknownSpecialist(_))));
}
