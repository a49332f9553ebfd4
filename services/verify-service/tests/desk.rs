//! The desk on the dev tile's policy and keys: the ask pipeline's judging (class A, T3,
//! the one-lineage T2 refusal), the ledger with proofs and its restore, Plane H writes and
//! retrieval, Plane B scores, and hostile input to each, with the precise error and
//! nothing changed.

use ed25519_dalek::SigningKey;
use tileos_router::{PolicyError, RouteError, sign_policy};
use tileos_update_log::ProofError;
use tileos_verify::Tier;
use tileos_verify::canary::Pool;
use tileos_verify::gate::Verdict;
use tileos_verify::knowledge::{Fragment, Grant, RetrievalError, SignedWrite, WriteError, WritePolicy, verify_retrieved};
use tileos_verify::ledger::verify_logged;
use tileos_verify_service::desk::{Answered, Desk, DeskError, tile_canaries};
use tileos_verify_service::dev_keys::{self, TILE_POLICY};
use tileos_verify_service::task::TaskError;

fn writes() -> WritePolicy {
    WritePolicy {
        grants: vec![Grant {
            contributor: dev_keys::contributor().verifying_key().to_bytes(),
            topics: vec!["arith".into(), "units".into()],
            tiers: vec![Tier::T1],
        }],
    }
}

fn desk() -> Desk {
    let sig = dev_keys::tile_policy_signature().expect("signature file");
    Desk::new(
        TILE_POLICY.as_bytes(),
        &sig,
        &dev_keys::policy_signer().verifying_key(),
        writes(),
        dev_keys::ledger_key(),
        tile_canaries(1000),
    )
    .unwrap()
}

fn ask(desk: &mut Desk, query: &str, specialist: &str, answer: &str) -> Result<(Verdict, u64), DeskError> {
    let (request, route) = desk.route(query, None)?;
    let judged = desk.judge(&request, &route, &[Answered { specialist, answer }], 0.0)?;
    let index = desk.commit(&judged)?;
    assert_eq!(index, judged.index);
    Ok((judged.verdict, index))
}

#[test]
fn the_tile_policy_signature_is_current() {
    let sig = sign_policy(TILE_POLICY.as_bytes(), &dev_keys::policy_signer());
    let hex: String = sig.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(dev_keys::TILE_POLICY_SIG_HEX.trim_end(), hex, "write this into services/router/policies/tile.policy.sig");
}

#[test]
fn answers_are_checked_logged_proved_and_survive_a_restore() {
    let mut d = desk();
    assert_eq!(ask(&mut d, "12+7", "t1", "19").unwrap(), (Verdict::VerifiedByChecker, 0));
    assert!(matches!(ask(&mut d, "12+7", "t1", "18").unwrap().0, Verdict::Refuted(_)));
    assert_eq!(ask(&mut d, "5 km in m", "t1", "5000").unwrap().0, Verdict::VerifiedByChecker);
    assert_eq!(ask(&mut d, "may we share the site plans?", "t3", "human review: security").unwrap().0, Verdict::NeedsHuman);
    // A consensus topic routes to the panel of the three T2 lineages; with no agreement
    // history, the pairs are assumed dependent: agreement is one voter's worth.
    let (request, route) = d.route("describe a river", None).unwrap();
    let names: Vec<&str> = route.specialists.iter().map(|&i| d.policy().specialists[i].name.as_str()).collect();
    assert_eq!(names, ["t2b", "t2", "t2c"], "the diversity-first pick (docs/inference.md, \"Routing\")");
    let agree = ["t2", "t2b", "t2c"].map(|specialist| Answered { specialist, answer: "the river is cold and deep" });
    let judged = d.judge(&request, &route, &agree, 0.0).unwrap();
    assert!(matches!(judged.verdict, Verdict::Correlated { effective_voters } if (effective_voters - 1.0).abs() < 1e-12));
    assert_eq!(judged.evidence.len(), 3);
    assert!(judged.evidence.iter().all(|e| e.informative == 0 && e.dependence == 1.0));

    let (proof, head) = d.prove(1, 5).unwrap();
    let entry = verify_logged(d.entry(1).unwrap(), &proof, &head, &dev_keys::ledger_key().verifying_key()).unwrap();
    assert_eq!((entry.query.as_str(), entry.answer.as_str(), entry.topic.as_str()), ("12+7", "18", "arith"));

    let mut again = desk();
    for i in 0..d.ledger_size() {
        again.restore_entry(d.entry(i).unwrap()).unwrap();
    }
    assert_eq!(again.prove(3, 5).unwrap().1, d.prove(3, 5).unwrap().1, "same signed head after the restore");
    let mut bad = d.entry(0).unwrap().to_vec();
    bad.push(0);
    assert!(matches!(again.restore_entry(&bad), Err(DeskError::StoredEntry(_))));
    assert_eq!(again.ledger_size(), 4);
}

#[test]
fn hostile_answers_and_queries_get_precise_errors_and_change_nothing() {
    let mut d = desk();
    let (request, route) = d.route("12+7", None).unwrap();
    let j = |d: &Desk, answers: &[Answered<'_>]| d.judge(&request, &route, answers, 0.0).map(|_| ());
    assert_eq!(j(&d, &[]), Err(DeskError::MissingAnswer("t1".into())));
    assert_eq!(j(&d, &[Answered { specialist: "t3", answer: "1" }]), Err(DeskError::NotRouted("t3".into())));
    let twice = [Answered { specialist: "t1", answer: "19" }, Answered { specialist: "t1", answer: "19" }];
    assert_eq!(j(&d, &twice), Err(DeskError::DuplicateAnswer("t1".into())));
    let long = "9".repeat(1025);
    assert_eq!(j(&d, &[Answered { specialist: "t1", answer: &long }]), Err(DeskError::AnswerTooLong(1025)));
    assert!(matches!(ask(&mut d, "what is km", "t1", "1"), Err(DeskError::NotCheckable(TaskError::Expr(_)))));
    assert!(matches!(ask(&mut d, "5 parsec in m", "t1", "1"), Err(DeskError::NotCheckable(TaskError::Units))));
    assert_eq!(d.route("12+7", Some("astrology")).unwrap_err(), DeskError::Route(RouteError::UnknownTopic("astrology".into())));
    assert_eq!(d.route(&"1+".repeat(600), None).unwrap_err(), DeskError::Route(RouteError::QueryTooLong(1200)));
    assert_eq!(d.route("   ", None).unwrap_err(), DeskError::Route(RouteError::EmptyQuery));
    assert_eq!(d.ledger_size(), 0, "nothing was logged");
    assert_eq!(ask(&mut d, "12+7", "t1", "19").unwrap().1, 0, "and it keeps serving");

    // A policy signed by another key, or altered after signing, is refused.
    let sig = dev_keys::tile_policy_signature().unwrap();
    let other = SigningKey::from_bytes(&[3; 32]).verifying_key();
    let refused = |text: &[u8], key| Desk::new(text, &sig, key, writes(), dev_keys::ledger_key(), vec![]).err().unwrap();
    assert!(matches!(refused(TILE_POLICY.as_bytes(), &other), DeskError::Policy(PolicyError::BadSignature)));
    let altered = TILE_POLICY.replace("competence=50 topics=policy", "competence=99 topics=policy");
    assert!(matches!(
        refused(altered.as_bytes(), &dev_keys::policy_signer().verifying_key()),
        DeskError::Policy(PolicyError::BadSignature)
    ));
}

fn fragment(seq: u64, content: &str) -> Fragment {
    Fragment {
        topic: "units".into(),
        tier: Tier::T1,
        contributor: dev_keys::contributor().verifying_key().to_bytes(),
        seq,
        content: content.as_bytes().to_vec(),
    }
}

#[test]
fn knowledge_writes_are_checked_before_they_apply_and_retrievals_prove_themselves() {
    let mut d = desk();
    let good = SignedWrite::sign(fragment(0, "1 km = 1000 m"), &dev_keys::contributor()).encode();
    let write = d.check_write(&good).unwrap();
    assert_eq!(d.knowledge_head().tree_size, 0, "a check changes nothing");
    d.commit_write(&write).unwrap();
    assert_eq!(d.check_write(&good).unwrap_err(), DeskError::Write(WriteError::WrongSequence { expected: 1, got: 0 }), "replay");
    let forged = SignedWrite::sign(fragment(1, "1 km = 10 m"), &SigningKey::from_bytes(&[5; 32])).encode();
    assert_eq!(d.check_write(&forged).unwrap_err(), DeskError::Write(WriteError::BadSignature));
    let mut tampered = SignedWrite::sign(fragment(1, "1 km = 1000 m"), &dev_keys::contributor()).encode();
    let at = tampered.len() - 70;
    tampered[at] ^= 1;
    assert!(matches!(d.check_write(&tampered), Err(DeskError::Write(_))));
    assert!(matches!(d.check_write(&[1, 2, 3]), Err(DeskError::Write(WriteError::Malformed(_)))));
    let t2 = Fragment { topic: "text".into(), ..fragment(1, "rivers are wet") };
    let t2 = SignedWrite::sign(t2, &dev_keys::contributor()).encode();
    assert!(matches!(d.check_write(&t2), Err(DeskError::Write(WriteError::NotAuthorised { .. }))));

    let head = d.knowledge_head();
    let item = d.retrieve("units", "km", 0).unwrap();
    assert_eq!(verify_retrieved(&item, &head.root_hash, head.tree_size).unwrap().content, b"1 km = 1000 m");
    let mut bad = item.clone();
    bad.proof.tree_size += 1;
    assert_eq!(verify_retrieved(&bad, &head.root_hash, head.tree_size), Err(RetrievalError::Proof(ProofError::SizeMismatch)));
    let mut bad = item.clone();
    bad.leaf[10] ^= 1;
    assert!(verify_retrieved(&bad, &head.root_hash, head.tree_size).is_err());
    assert!(d.retrieve("units", "km", 1).is_none());

    let mut again = desk();
    again.restore_write(&good).unwrap();
    assert_eq!(again.knowledge_head(), head);
}

#[test]
fn canary_scores_move_reputation_and_an_overfit_node_is_slashed() {
    let mut d = desk();
    let public = d.draw("arith", Pool::Public, 1, 16, &[1; 32]);
    let secret = d.draw("arith", Pool::Secret, 1, 16, &[2; 32]);
    assert!(public.len() >= 8 && secret.len() >= 8, "{} {}", public.len(), secret.len());
    let right = |d: &Desk, id: u32| {
        let task = &d.canary(id).unwrap().0.task;
        let q = tileos_verify_service::desk::question(task).unwrap();
        tileos_verify_service::task::exact_value(&q).unwrap().to_string()
    };
    let mut finding = None;
    let mut before = 0.0;
    for (&p, &s) in public.iter().zip(&secret) {
        let (score, _, rep) = d.score("t1", p, &right(&d, p), 2).unwrap();
        assert!(score.passed);
        before = rep;
        let (score, found, _) = d.score("t1", s, "-1", 2).unwrap();
        assert!(!score.passed);
        finding = finding.or(found);
        // An honest node, right on both pools.
        d.score("honest", p, &right(&d, p), 2).unwrap();
        assert!(d.score("honest", s, &right(&d, s), 2).unwrap().1.is_none());
    }
    assert!(finding.is_some(), "public right, secret wrong: overfit");
    let (slashed, honest) = (d.reputation("t1", "arith", 2.0).unwrap(), d.reputation("honest", "arith", 2.0).unwrap());
    assert!(before > 0.0 && slashed < honest / 5.0, "slashed: {slashed} vs {honest}");
    assert!(matches!(d.score("t1", 999, "1", 2), Err(DeskError::Canary(_))));
    assert!(matches!(d.score("t1", public[0], "1", 5000), Err(DeskError::Canary(_))), "expired");
}
