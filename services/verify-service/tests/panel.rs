//! The class-C gate on the dev tile's policy and canaries: class-C agreement audits (plan,
//! check, apply, restore) feed the agreement history, and the history decides the gate's
//! verdict on a T2 panel; rotation and expiry of the class-C canaries; and hostile panel
//! requests and records, each refused with its precise error and nothing changed.

use tileos_router::sign_policy;
use tileos_verify::canary::Pool;
use tileos_verify::gate::Verdict;
use tileos_verify_service::audit::{MAX_MEMBERS, MAX_PANEL_AUDIT, PanelCanary, PanelRecord, RecordError};
use tileos_verify_service::desk::{Answered, Desk, DeskError, tile_canaries};
use tileos_verify_service::dev_keys::{self, TILE_POLICY};

fn desk_with(policy: &str, expires_at: u64) -> Desk {
    let sig = sign_policy(policy.as_bytes(), &dev_keys::policy_signer());
    let key = dev_keys::policy_signer().verifying_key();
    Desk::new(policy.as_bytes(), &sig, &key, Default::default(), dev_keys::ledger_key(), tile_canaries(expires_at)).unwrap()
}

fn desk() -> Desk {
    desk_with(TILE_POLICY, u64::MAX)
}

fn panel() -> Vec<String> {
    ["t2", "t2b", "t2c"].map(String::from).to_vec()
}

/// Plans, checks and applies a panel audit of `count` canaries; `answer(specialist,
/// question)` answers.
fn panel_audit(
    d: &mut Desk,
    members: &[String],
    count: usize,
    now: u64,
    seed: u8,
    answer: impl Fn(&str, &str) -> String,
) -> Result<PanelRecord, DeskError> {
    let time = d.panel_clock(now);
    let planned = d.plan_panel_audit("text", members, count, time, &[seed; 32])?;
    let record = PanelRecord {
        time,
        topic: "text".into(),
        seed: [seed; 32],
        specialists: members.to_vec(),
        canaries: planned.iter().map(|(id, q)| PanelCanary { id: *id, answers: members.iter().map(|s| answer(s, q)).collect() }).collect(),
    };
    d.check_panel_audit(&record)?;
    d.apply_panel_audit(&record)?;
    Ok(record)
}

/// t2 and t2c answer alike; t2b answers on its own (another adjective).
fn twins(specialist: &str, question: &str) -> String {
    let subject = question.rsplit(' ').next().unwrap();
    if specialist == "t2b" { format!("the {subject} is wide") } else { format!("the {subject} is cold") }
}

fn judge(d: &Desk, answers: [&str; 3]) -> Verdict {
    let (request, route) = d.route("describe a river", None).unwrap();
    let names: Vec<String> = route.specialists.iter().map(|&i| d.policy().specialists[i].name.clone()).collect();
    let given: Vec<Answered<'_>> = names
        .iter()
        .map(|n| Answered { specialist: n, answer: answers[["t2", "t2b", "t2c"].iter().position(|s| s == n).unwrap()] })
        .collect();
    d.judge(&request, &route, &given, 0.0).unwrap().verdict
}

#[test]
fn lineages_that_always_agree_on_the_canaries_count_as_one_voter() {
    let mut d = desk();
    let mut records = Vec::new();
    for i in 0..3 {
        records.push(panel_audit(&mut d, &panel(), 2, 10 + i, i as u8, twins).unwrap());
    }
    assert_eq!(d.panel_audits(), 3);
    assert_eq!(d.agreement("t2", "t2c").unwrap(), (6, 6, 1.0));
    assert_eq!(d.agreement("t2", "t2b").unwrap(), (6, 0, 0.0));
    // t2 and t2c against t2b: two thirds of the weight, but one voter's worth.
    let v = judge(&d, ["x", "y", "x"]);
    assert!(matches!(v, Verdict::Correlated { effective_voters } if (effective_voters - 1.0).abs() < 1e-12), "{v:?}");
    // t2 and t2b (independent on the canaries) agree, t2c dissents: 2/3 share, 2 voters.
    let v = judge(&d, ["x", "x", "y"]);
    assert!(matches!(v, Verdict::VerifiedByConsensus { effective_voters, .. } if (effective_voters - 2.0).abs() < 1e-12), "{v:?}");
    // All three: (1+1+1)² / (3 + 2·(0 + 1 + 0)) = 9/5.
    let v = judge(&d, ["x", "x", "x"]);
    assert!(
        matches!(v, Verdict::VerifiedByConsensus { effective_voters, share } if (effective_voters - 1.8).abs() < 1e-12 && share == 1.0),
        "{v:?}"
    );
    // Three different answers: no quorum.
    assert!(matches!(judge(&d, ["x", "y", "z"]), Verdict::NoQuorum { .. }));

    // The history is rebuilt from the records' bytes alone.
    let mut again = desk();
    for r in &records {
        again.restore_panel_audit(&r.encode()).unwrap();
    }
    assert_eq!(again.agreement("t2", "t2c").unwrap(), d.agreement("t2", "t2c").unwrap());
    assert_eq!(judge(&again, ["x", "y", "x"]), judge(&d, ["x", "y", "x"]));
}

#[test]
fn too_little_evidence_is_assumed_dependent() {
    let mut d = desk();
    // One audit of 2 canaries: 2 informative events per pair, below the minimum of 4.
    panel_audit(&mut d, &panel(), 2, 10, 1, twins).unwrap();
    assert_eq!(d.agreement("t2", "t2b").unwrap(), (2, 0, 1.0));
    assert!(matches!(judge(&d, ["x", "x", "x"]), Verdict::Correlated { effective_voters } if (effective_voters - 1.0).abs() < 1e-12));
}

#[test]
fn class_c_canaries_rotate_and_expire() {
    let mut d = desk();
    // 8 public class-C canaries, 4 reveals each: 16 audits of 2, then none is left.
    for i in 0..16u64 {
        let r = panel_audit(&mut d, &panel(), 2, 10 + i, i as u8, twins).unwrap();
        assert_eq!(r.canaries.len(), 2);
        assert!(r.canaries.iter().all(|c| (32..48).contains(&c.id) && c.id % 2 == 0), "public class-C canaries only");
    }
    assert_eq!(panel_audit(&mut d, &panel(), 1, 100, 99, twins), Err(DeskError::NoCanary { topic: "text".into(), pool: Pool::Public }));
    let mut e = desk_with(TILE_POLICY, 50);
    panel_audit(&mut e, &panel(), 2, 10, 1, twins).unwrap();
    assert_eq!(
        panel_audit(&mut e, &panel(), 2, 50, 2, twins),
        Err(DeskError::NoCanary { topic: "text".into(), pool: Pool::Public }),
        "expired"
    );
}

#[test]
fn hostile_panel_requests_and_records_get_precise_errors_and_change_nothing() {
    let mut d = desk();
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let plan = |d: &Desk, members: &[String], topic: &str, count| d.plan_panel_audit(topic, members, count, 10, &[1; 32]).map(|_| ());
    assert_eq!(plan(&d, &panel(), "arith", 1), Err(DeskError::NotClassC("arith".into())));
    assert_eq!(plan(&d, &panel(), "astrology", 1), Err(DeskError::NotClassC("astrology".into())));
    assert_eq!(plan(&d, &names(&["t2"]), "text", 1), Err(DeskError::PanelSize(1)));
    assert_eq!(plan(&d, &names(&["t2", "t2b", "t2c", "t2", "t2b"]), "text", 1), Err(DeskError::PanelSize(MAX_MEMBERS + 1)));
    assert_eq!(plan(&d, &names(&["t2", "t2b", "t2"]), "text", 1), Err(DeskError::DuplicateMember("t2".into())));
    assert_eq!(plan(&d, &names(&["t2", "t9"]), "text", 1), Err(DeskError::UnknownSpecialist("t9".into())));
    assert_eq!(plan(&d, &names(&["t2", "t1"]), "text", 1), Err(DeskError::NotItsTopic { specialist: "t1".into(), topic: "text".into() }));
    assert_eq!(plan(&d, &panel(), "text", 0), Err(DeskError::PanelCount(0)));
    // A scored (class-A) audit of the class-C topic: its canaries have no judge.
    assert_eq!(d.plan_audit("t2", "text", Pool::Public, 2, 10, &[1; 32]), Err(DeskError::NotScored("text".into())));
    assert_eq!(plan(&d, &panel(), "text", MAX_PANEL_AUDIT + 1), Err(DeskError::PanelCount(MAX_PANEL_AUDIT + 1)));

    // A non-diverse set: a policy whose two T2 specialists share one lineage.
    let same = TILE_POLICY.replace("adapter=t2b lineage=t2b", "adapter=t2b lineage=t2");
    let s = desk_with(&same, u64::MAX);
    assert_eq!(plan(&s, &names(&["t2", "t2b"]), "text", 1), Err(DeskError::PanelNotDiverse("t2".into())));

    // Forged and replayed records.
    let good = panel_audit(&mut d, &panel(), 2, 10, 1, twins).unwrap();
    let before = d.agreement("t2", "t2b").unwrap();
    assert_eq!(d.check_panel_audit(&good), Err(DeskError::AuditTime { time: 10, latest: 10 }), "replayed");
    let mut forged = good.clone();
    forged.time = 20;
    forged.canaries[0].id = 46;
    forged.canaries[1].id = 44;
    assert_eq!(d.check_panel_audit(&forged), Err(DeskError::AuditMismatch), "canaries that are not the seed's draw");
    let mut short = panel_audit_record(&d, 21, 2);
    short.canaries[0].answers.pop();
    assert_eq!(d.check_panel_audit(&short), Err(DeskError::PanelAnswers(short.canaries[0].id)));
    let mut long = panel_audit_record(&d, 21, 2);
    long.canaries[1].answers[2] = "x".repeat(65);
    assert_eq!(d.check_panel_audit(&long), Err(DeskError::AnswerTooLong(65)));
    let bytes = panel_audit_record(&d, 21, 2).encode();
    assert_eq!(d.restore_panel_audit(&bytes[..bytes.len() - 1]), Err(DeskError::StoredAudit(RecordError::Truncated("answer"))));
    let mut extra = bytes.clone();
    extra.push(0);
    assert_eq!(d.restore_panel_audit(&extra), Err(DeskError::StoredAudit(RecordError::Trailing(1))));
    let mut one = bytes.clone();
    one[1 + 8 + 32 + 1 + 4] = 1; // members: 1 (after version, time, seed and the topic "text")
    assert_eq!(d.restore_panel_audit(&one), Err(DeskError::StoredAudit(RecordError::Members(1))));
    assert_eq!(PanelRecord::decode(&bytes), Ok(panel_audit_record(&d, 21, 2)));
    assert_eq!(d.agreement("t2", "t2b").unwrap(), before, "nothing changed");
    assert_eq!(d.panel_audits(), 1);
    // And it keeps serving.
    panel_audit(&mut d, &panel(), 2, 30, 3, twins).unwrap();
    assert_eq!(d.panel_audits(), 2);
}

/// The honest record a panel audit at `time` with seed 7 would make (not applied).
fn panel_audit_record(d: &Desk, time: u64, count: usize) -> PanelRecord {
    let planned = d.plan_panel_audit("text", &panel(), count, time, &[7; 32]).unwrap();
    PanelRecord {
        time,
        topic: "text".into(),
        seed: [7; 32],
        specialists: panel(),
        canaries: planned.iter().map(|(id, q)| PanelCanary { id: *id, answers: panel().iter().map(|s| twins(s, q)).collect() }).collect(),
    }
}

/// The real T2 adapters (`weights/`) on the host core: four panel audits of two public
/// class-C canaries (seeds 0 to 3), then the gate on `describe a river`: t2 and t2c (one
/// corpus) agree on 6 of 8, t2 and t2b on 1, t2b and t2c on 3; all three answer `the river
/// is wide and slow`, (1+1+1)² / (3 + 2·(0.125 + 0.75 + 0.375)) = 1.636 effective voters:
/// verified. The pair t2, t2c alone would be 4 / 3.5 = 1.14: correlated. (The `ask` boot
/// test replays its own draw.)
#[test]
fn the_real_t2_lineages_measured_on_eight_class_c_canaries() {
    use tileos_inference::{Base, Catalog, Engine};
    let read = |n: &str| std::fs::read(format!("{}/../../weights/{n}.safetensors", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let base_file = read("base");
    let files: Vec<(String, Vec<u8>)> = ["t2", "t2b", "t2c"].iter().map(|n| (n.to_string(), read(n))).collect();
    let base = Base::parse(&base_file).unwrap();
    let mut catalog = Catalog::new();
    for (n, f) in &files {
        catalog.insert(n, f).unwrap();
    }
    let engine = std::cell::RefCell::new(Engine::new(&base));
    let answer = |s: &str, q: &str| {
        String::from_utf8_lossy(&engine.borrow_mut().request(&catalog, s, q.as_bytes(), 61).unwrap().answer).into_owned()
    };
    let mut d = desk();
    for i in 0..4u64 {
        let r = panel_audit(&mut d, &panel(), 2, 10 + i, i as u8, answer).unwrap();
        for c in &r.canaries {
            eprintln!("canary {}: {:?}", c.id, c.answers);
        }
    }
    for (a, b) in [("t2", "t2b"), ("t2", "t2c"), ("t2b", "t2c")] {
        eprintln!("{a} ~ {b}: {:?}", d.agreement(a, b).unwrap());
        assert_eq!(d.agreement(a, b).unwrap().0, 8, "8 joint answers (a canary may be drawn again until it retires)");
    }
    let answers = ["t2", "t2b", "t2c"].map(|s| answer(s, "describe a river"));
    eprintln!("describe a river: {answers:?}");
    let (request, route) = d.route("describe a river", None).unwrap();
    let given: Vec<Answered<'_>> = route
        .specialists
        .iter()
        .map(|&i| {
            let n = d.policy().specialists[i].name.as_str();
            Answered { specialist: n, answer: &answers[["t2", "t2b", "t2c"].iter().position(|s| *s == n).unwrap()] }
        })
        .collect();
    let judged = d.judge(&request, &route, &given, 0.0).unwrap();
    eprintln!("verdict: {:?}, answer {:?}", judged.verdict, judged.answer);
    assert_eq!([d.agreement("t2", "t2b").unwrap().1, d.agreement("t2", "t2c").unwrap().1, d.agreement("t2b", "t2c").unwrap().1], [1, 6, 3]);
    assert!(
        matches!(judged.verdict, Verdict::VerifiedByConsensus { effective_voters, share } if (effective_voters - 9.0 / 5.5).abs() < 1e-12 && share == 1.0)
    );
    assert_eq!(judged.answer, "the river is wide and slow");
    let pair = [
        Answered { specialist: "t2", answer: "x" },
        Answered { specialist: "t2b", answer: "y" },
        Answered { specialist: "t2c", answer: "x" },
    ];
    let v = d.judge(&request, &route, &pair, 0.0).unwrap().verdict;
    assert!(matches!(v, Verdict::Correlated { effective_voters } if (effective_voters - 4.0 / 3.5).abs() < 1e-12), "{v:?}");
}
