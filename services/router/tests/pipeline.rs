//! The query path of seed 002 §9.7 end to end on the host, with the real cores: route →
//! retrieve knowledge with proofs → verify the answer (class A checker, class C
//! independence-weighted consensus, T3 human) → append the tuple to the ledger → check the
//! entry on the host and re-run its routing. The answers are given by the test (the model is
//! another helper's work); everything that judges them is real.

use ed25519_dalek::SigningKey;
use tileos_router::{Choice, Policy, Request, Route, route, sign_policy};
use tileos_verify::Tier;
use tileos_verify::canary::{AuditBook, Canary, CanarySet, CanaryTask, OverfitRule, Pool};
use tileos_verify::gate::{GateParams, PanelAnswer, Verdict, gate_checked, gate_consensus};
use tileos_verify::independence::{AgreementHistory, CanaryAnswer};
use tileos_verify::knowledge::{Fragment, Grant, KnowledgeStore, SignedWrite, WritePolicy, verify_retrieved};
use tileos_verify::ledger::{Ledger, verify_logged};
use tileos_verify::units::check_conversion;

const EXAMPLE: &str = include_str!("../policies/example.policy");

fn policy() -> Policy {
    let key = SigningKey::from_bytes(&[7; 32]);
    Policy::verify_and_parse(EXAMPLE.as_bytes(), &sign_policy(EXAMPLE.as_bytes(), &key), &key.verifying_key()).unwrap()
}

fn log(ledger: &mut Ledger, p: &Policy, req: &Request, r: &Route, answer: &str, memory: &KnowledgeStore, verdict: Verdict) -> u64 {
    ledger.append(&r.ledger_entry(p, req, answer, (memory.root(), memory.size()), verdict).unwrap()).unwrap()
}

#[test]
fn a_query_is_routed_checked_verified_logged_and_replayed() {
    let p = policy();
    let contributor = SigningKey::from_bytes(&[1; 32]);
    let mut memory = KnowledgeStore::new(WritePolicy {
        grants: vec![Grant { contributor: contributor.verifying_key().to_bytes(), topics: vec!["units".into()], tiers: vec![Tier::T1] }],
    });
    let fact = Fragment {
        topic: "units".into(),
        tier: Tier::T1,
        contributor: contributor.verifying_key().to_bytes(),
        seq: 0,
        content: b"1 mi = 1.609344 km".to_vec(),
    };
    memory.write(&SignedWrite::sign(fact, &contributor)).unwrap();
    let ledger_key = SigningKey::from_bytes(&[9; 32]);
    let mut ledger = Ledger::new();

    // T1: convert 5 mi to km.
    let req = Request { query: "convert 5 mi to km".into(), topic: None, choice: Choice::Default };
    let r = route(&p, &req).unwrap();
    assert_eq!((p.topics[r.topic].name.as_str(), r.tier), ("units", Tier::T1));
    let retrieved = memory.retrieve("units", "mi", 4);
    assert_eq!(retrieved.items.len(), 1);
    let fragment = verify_retrieved(&retrieved.items[0], &retrieved.head.root_hash, retrieved.head.tree_size).unwrap();
    assert_eq!(fragment.content, b"1 mi = 1.609344 km");
    let right = gate_checked(r.tier, check_conversion("5", "mi", "km", "8.04672").unwrap());
    assert_eq!(right, Verdict::VerifiedByChecker);
    let wrong = gate_checked(r.tier, check_conversion("5", "mi", "km", "8.05").unwrap());
    assert!(matches!(wrong, Verdict::Refuted(_)));
    let i_right = log(&mut ledger, &p, &req, &r, "8.04672", &memory, right);
    let i_wrong = log(&mut ledger, &p, &req, &r, "8.05", &memory, wrong);

    // T2: a draft, answered by a diverse panel whose independence comes from class-C canaries.
    let mut history = AgreementHistory::new(4);
    for i in 0..6 {
        let (a, b) = (format!("q{i}"), format!("m{}", i % 3));
        history.record(&[
            CanaryAnswer { lineage: "qwen", answer: &a, correct: None },
            CanaryAnswer { lineage: "mistral", answer: &b, correct: None },
            CanaryAnswer { lineage: "olmo", answer: &a[..1], correct: None },
        ]);
    }
    let req2 = Request { query: "write a short email".into(), topic: None, choice: Choice::Default };
    let r2 = route(&p, &req2).unwrap();
    let refs = r2.specialist_refs(&p);
    let panel: Vec<PanelAnswer> = refs
        .iter()
        .map(|s| PanelAnswer { lineage: &s.lineage, provenance: &s.provenance, answer: "Meeting moved to 10:00.", weight: 1.0 })
        .collect();
    let (v2, _) = gate_consensus(r2.tier, &panel, &history, &GateParams::default()).unwrap();
    assert!(v2.is_verified(), "{v2:?}");
    let i_draft = log(&mut ledger, &p, &req2, &r2, "Meeting moved to 10:00.", &memory, v2);

    // T3: the panel agrees, and still a human decides.
    let req3 = Request { query: "partner strategy".into(), topic: None, choice: Choice::Default };
    let r3 = route(&p, &req3).unwrap();
    let refs3 = r3.specialist_refs(&p);
    let panel3: Vec<PanelAnswer> =
        refs3.iter().map(|s| PanelAnswer { lineage: &s.lineage, provenance: &s.provenance, answer: "wait", weight: 1.0 }).collect();
    let (v3, _) = gate_consensus(r3.tier, &panel3, &history, &GateParams::default()).unwrap();
    assert_eq!(v3, Verdict::NeedsHuman);
    let i_t3 = log(&mut ledger, &p, &req3, &r3, "wait", &memory, v3);

    // Host check of every entry against one signed head, and a replay of each route.
    let head = ledger.signed_head(1, &ledger_key);
    for (i, verdict_verified) in [(i_right, true), (i_wrong, false), (i_draft, true), (i_t3, false)] {
        let entry = verify_logged(ledger.entry(i).unwrap(), &ledger.prove(i).unwrap(), &head, &ledger_key.verifying_key()).unwrap();
        assert_eq!(entry.verdict.is_verified(), verdict_verified);
        assert_eq!(entry.memory_root, memory.root());
        let replayed = route(&p, &Request::decode(&entry.query, &entry.request).unwrap()).unwrap();
        assert_eq!(replayed.specialist_refs(&p), entry.specialists);
    }
}

#[test]
fn canary_results_move_reputation_and_catch_an_overfit_specialist() {
    let mut canaries = CanarySet::new(3).unwrap();
    for id in 0..40u32 {
        let pool = if id % 2 == 0 { Pool::Public } else { Pool::Secret };
        let task = CanaryTask::Arithmetic(format!("{id} * 7 + 1"));
        canaries.add(Canary { id, topic: "arith".into(), pool, task, difficulty_milli: 700, issued_at: 0, expires_at: 1000 }).unwrap();
    }
    let mut book = AuditBook::new(Default::default(), OverfitRule::default()).unwrap();
    let public = canaries.draw("arith", Pool::Public, 1, 10, &[3; 32]);
    let secret = canaries.draw("arith", Pool::Secret, 1, 10, &[4; 32]);
    let mut caught = None;
    for (t, (&pu, &se)) in public.iter().zip(&secret).enumerate() {
        let time = t as f64;
        let right = |id: u32| (id * 7 + 1).to_string();
        // "calc-q" memorised the public set; on the secret reserve it is off by one.
        let s = canaries.score(pu, &right(pu), 1).unwrap();
        book.record("calc-q", "arith", &s, time).unwrap();
        let s = canaries.score(se, &(se * 7).to_string(), 1).unwrap();
        caught = caught.or(book.record("calc-q", "arith", &s, time).unwrap());
        // "calc-m" is honest and equally good on both.
        book.record("calc-m", "arith", &canaries.score(pu, &right(pu), 1).unwrap(), time).unwrap();
        book.record("calc-m", "arith", &canaries.score(se, &right(se), 1).unwrap(), time).unwrap();
    }
    let finding = caught.expect("overfit detected");
    assert_eq!((finding.public_rate, finding.secret_rate), (1.0, 0.0));
    let q = book.reputation("calc-q", "arith", 10.0).unwrap();
    let m = book.reputation("calc-m", "arith", 10.0).unwrap();
    assert!(q.raw < m.raw / 5.0, "{q:?} {m:?}");
}
