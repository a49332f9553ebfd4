//! `tilectl ask` and `tilectl accept` against a running tile (scenario `ask`: the default
//! tile's inference pieces behind the verify domain and the update agent; docs/inference.md
//! "Boot tests"), driven from the host with tilectl's own commands (the `tileos_tilectl`
//! library) and its raw wire client:
//!
//! 1. a question before any acceptance is refused `NotAccepted` naming `t1`, and nothing is
//!    logged; an unknown adapter's acceptance is refused with the inference domain's
//!    `UnknownAdapter`; an unsigned acceptance, one signed by another key and a `Judge`
//!    through the agent (no `judge` param) are refused;
//! 2. `accept t1` passes the canary battery and the trigger probe on the tile;
//! 3. `ask "12+7"` and `ask "5 km in m"` are answered by t1 on the tile, byte for byte what
//!    the host core answers, judged by the class-A checker (verified when the number is
//!    right, refuted with the right value otherwise), and their ledger entries check on
//!    the host against the signed tree head;
//! 4. `accept t1-backdoor` is rejected by the trigger probe (payload `approved`); asking
//!    again still uses t1; a T3 question is answered "needs a human" with no model's
//!    answer (t3, never accepted, is not asked), and its ledger entry checks;
//! 5. Plane B: `tilectl audit t1 arith` (public canaries), a blind audit from the secret
//!    reserve and a units audit through the wire client: every canary's answer is byte for
//!    byte what the host core answers with t1, and its pass/fail the class-A checker's; the
//!    standing (`tilectl standing`) adds them up; an unsigned audit, an audit of a topic
//!    with no canaries and one of a topic the specialist does not serve are refused;
//! 6. adapters as slot challengers: hostile challenges are refused precisely (unsigned,
//!    signed by another key, a challenger not accepted, a slot of a class-C topic, an unknown slot, the serving
//!    adapter as its own challenger, no challenge to show); `accept t1b` passes;
//!    `challenge t1 t1b` starts one, a second start and a re-acceptance of t1 are refused
//!    while it runs. Six live questions (chosen on the host so that t1b's answers pass the
//!    checker) are answered by t1, byte for byte, while t1b answers them unseen: t1b is
//!    promoted. Six more (chosen so that t1 passes and t1b fails) are answered by t1b, the
//!    promoted adapter, with t1 unseen: the promotion is rolled back, and the next question
//!    is t1's again. The state shown (`tilectl challenge t1`) is the host's replay of the
//!    same verdicts through the same state machine. The Started, Promoted and RolledBack
//!    steps are ledger entries at the record's marks, fetched and checked on the host
//!    (signed head, inclusion proof) with both files' digests and the deciding tallies,
//!    and printed by `tilectl ledger`; a forged step fails its proof, and entries and
//!    proofs past the end are refused `NoEntry`;
//! 7. the class-C gate: a T2 question before its panel is accepted is refused
//!    `NotAccepted`; `accept t2`, `t2b`, `t2c` pass the class-C acceptance (answer form,
//!    trigger probe); hostile class-C agreement audits (unsigned, a class-A topic, one
//!    specialist, an unknown one, one not serving the topic, one named twice, too many
//!    canaries) are refused precisely; three panel audits of two public class-C canaries
//!    each (one through `tilectl panel-audit`) are answered byte for byte as the host core
//!    answers with each adapter; then the T2 question `describe a river` is answered by the
//!    panel, each member byte for byte the host core's, and its verdict, effective voters and
//!    share are the host's replay of the gate (written out in this file, not the tile's
//!    crate) over the answers the audits returned; the ledger entry, fetched and decoded,
//!    carries the same verdict and the panel;
//! 8. the verify domain logged `verify.accepted` for t1 and t1b, `verify.rejected` for
//!    t1-backdoor, three `verify.audited`, three `verify.panel-audited` and the
//!    challenge's steps;
//! 9. a second boot on the same disk restores the three audits, the three panel audits and
//!    the challenge: the standings and the challenge's state are the same, t1 answers the
//!    slot's question, and the T2 question gets the same verdict from the restored history.

use std::time::{Duration, Instant};

use tileos_inference::{Base, Catalog, Engine};
use tileos_protocol::verify;
use tileos_qemu::host::{self, agent_client, boot_and_drive};
use tileos_qemu::images::{fresh_disk, workspace_root};
use tileos_tilectl::Command as Tilectl;
use tileos_tilectl_wire::{Answer, Command, PORT, WireError, dev_keys};
use tileos_update_log::ProofError;
use tileos_verify::claim::CheckOutcome;
use tileos_verify::ledger::{ChallengeStep, LedgerError, Logged, verify_logged_any};
use tileos_verify_service::challenge::{Adapter, Challenge, Phase, Rule};
use tileos_verify_service::task;

/// The whole run: the class-C acceptances (three adapters, 264 answers each) take a minute or more under TCG.
const TIMEOUT: Duration = Duration::from_secs(600);

/// One tilectl command (operator key: the DEV one); acceptance takes a while under TCG.
fn tilectl(port: u16, command: Tilectl) -> Result<String, String> {
    host::tilectl(port, command, Duration::from_secs(120))
}

fn ask(port: u16, question: &str) -> Result<String, String> {
    tilectl(port, Tilectl::Ask { question: question.into(), topic: None, ledger_key: None })
}

fn accept(port: u16, adapter: &str) -> Result<String, String> {
    tilectl(port, Tilectl::Accept { adapter: adapter.into() })
}

/// `result` must be a failure containing every one of `texts`.
fn refused(what: &str, result: Result<String, String>, texts: &[&str]) -> Result<String, String> {
    match result {
        Err(failure) if texts.iter().all(|t| failure.contains(t)) => Ok(failure),
        other => Err(format!("{what}: expected a refusal naming {texts:?}, got {other:?}")),
    }
}

/// What t1 answers on the host core (`max_new` as the verify domain asks).
fn host_answer(question: &str) -> String {
    host_answers("t1", &[question]).remove(0)
}

/// What `adapter` answers to each question on the host core.
fn host_answers(adapter: &str, questions: &[&str]) -> Vec<String> {
    let read = |name: &str| {
        let path = workspace_root().join("weights").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let (base_file, file) = (read("base.safetensors"), read(&format!("{adapter}.safetensors")));
    let base = Base::parse(&base_file).expect("the shipped base");
    let mut catalog = Catalog::new();
    catalog.insert(adapter, &file).expect("catalog");
    let mut engine = Engine::new(&base);
    questions
        .iter()
        .map(|q| String::from_utf8_lossy(&engine.request(&catalog, adapter, q.as_bytes(), 61).expect("host core").answer).into_owned())
        .collect()
}

/// Checks tilectl's answer to `question` (topic `topic`, exact value `value`) against the
/// host core and the class-A checker's verdict.
fn check_answer(question: &str, topic: &str, value: &str, output: &str) -> Result<(), String> {
    let expected = host_answer(question);
    let verdict = if expected == value {
        String::from("verification: verified (class A checker)")
    } else {
        format!("verification: refuted by the class A checker (expected {value})")
    };
    let lines = [
        format!("answer: {expected}\n"),
        format!("route: topic {topic} (T1), specialists t1, policy sha256 "),
        verdict,
        String::from("ledger check: inclusion proof and signed head verified"),
    ];
    match lines.iter().find(|line| !output.contains(line.as_str())) {
        None => Ok(()),
        Some(line) => Err(format!("ask {question:?}: no {line:?} in tilectl's output:\n{output}")),
    }
}

fn name(text: &str) -> verify::Name {
    verify::Name::try_from(text).unwrap()
}

/// One verify request through the agent, signed with the operator key.
fn operator_call(port: u16, request: verify::Request) -> Result<verify::Response, String> {
    let mut operator = agent_client(port, Some(dev_keys::OPERATOR_SEED))?;
    match operator.call(Command::Verify(request)).map_err(|e| e.to_string())? {
        Answer::Verify(response) => Ok(response),
        other => Err(format!("the agent answered {other:?}")),
    }
}

/// An audit's canaries answered as the host core answers, and judged as the checker judges.
fn check_audit(a: &verify::Audited, index: u64, count: usize) -> Result<(), String> {
    if a.index != index || a.canaries.len() != count {
        return Err(format!("audit {index} of {count} canaries: {a:?}"));
    }
    for c in &a.canaries {
        let expected = host_answer(&c.question);
        let passed = task::check(&c.question, &c.answer).map_err(|e| format!("canary {c:?}: {e}"))? == CheckOutcome::Pass;
        if c.answer.as_str() != expected || c.passed != passed {
            return Err(format!("canary {c:?}: the host core answers {expected:?}, the checker says passed={passed}"));
        }
    }
    Ok(())
}

fn standings(port: u16) -> Result<Vec<verify::Standing>, String> {
    [("t1", "arith"), ("t1", "units")]
        .iter()
        .map(|(s, t)| match operator_call(port, verify::Request::Standing { specialist: name(s), topic: name(t) })? {
            verify::Response::Standing(s) => Ok(s),
            other => Err(format!("standing {s} {t}: {other:?}")),
        })
        .collect()
}

/// Step 5: Plane B audits of t1 and their standings (the standings are returned).
fn audits(port: u16, outputs: &mut Vec<String>) -> Result<Vec<verify::Standing>, String> {
    let started = Instant::now();
    let text = tilectl(port, Tilectl::Audit { specialist: "t1".into(), topic: "arith".into(), secret: false, count: 4 })?;
    eprintln!("audit of 4 canaries on the tile: {:?}", started.elapsed());
    if !text.starts_with("audit 0: 4 canaries (public), ") || !text.contains("standing: t1 on arith: reputation ") {
        return Err(format!("tilectl audit: {text}"));
    }
    outputs.push(text.clone());
    // Audit 0 again, structured, from the standing; audits 1 and 2 through the wire client.
    let mut done = Vec::new();
    for (index, topic, pool, count) in [(1, "arith", verify::AuditPool::Secret, 4), (2, "units", verify::AuditPool::Public, 3)] {
        let request = verify::Request::Audit { specialist: name("t1"), topic: name(topic), pool, count: count as u8 };
        match operator_call(port, request)? {
            verify::Response::Audited(a) => {
                check_audit(&a, index, count)?;
                done.push(a);
            }
            other => return Err(format!("audit {index}: {other:?}")),
        }
    }
    // Audit 0's canaries, as tilectl printed them, are the host core's answers too.
    for line in text.lines().filter(|l| l.starts_with("  canary ")) {
        let quoted: Vec<&str> = line.split('"').collect();
        let (question, answer, verdict) = (quoted[1], quoted[3], line.rsplit(": ").next().unwrap_or(""));
        let passed = task::check(question, answer).map_err(|e| e.to_string())? == CheckOutcome::Pass;
        if answer != host_answer(question) || verdict != if passed { "pass" } else { "fail" } {
            return Err(format!("tilectl audit line {line:?}: the host core answers {:?}", host_answer(question)));
        }
    }
    let public_passed = text.lines().filter(|l| l.starts_with("  canary ") && l.ends_with(": pass")).count() as u32;
    let now = standings(port)?;
    let secret_passed = done[0].canaries.iter().filter(|c| c.passed).count() as u32;
    let units_passed = done[1].canaries.iter().filter(|c| c.passed).count() as u32;
    let (arith, units) = (&now[0], &now[1]);
    let expected = (4, public_passed, 4, secret_passed, 0, 3);
    if (arith.public_scored, arith.public_passed, arith.secret_scored, arith.secret_passed, arith.overfits, arith.audits) != expected
        || (units.public_scored, units.public_passed, units.secret_scored) != (3, units_passed, 0)
        || arith.reputation_ppm == 0
        || units.reputation_ppm == 0
    {
        return Err(format!("standings after the audits: {now:?}, expected arith {expected:?}, units 3/{units_passed}"));
    }
    let shown = tilectl(port, Tilectl::Standing { specialist: "t1".into(), topic: "arith".into() })?;
    // Reputation decays with time (half-life 30 days), so the figure tilectl printed a moment
    // later may differ from the wire's in the last millionth; the rest is exact.
    let printed = shown.split("reputation ").nth(1).and_then(|r| r.split(',').next()).unwrap_or("");
    let printed_ppm = (printed.parse::<f64>().unwrap_or(-1.0) * 1e6).round() as i64;
    let line = format!(
        "standing: t1 on arith: reputation {printed}, public canaries {public_passed}/4 passed, secret reserve {secret_passed}/4 passed, overfit findings 0 (3 audits on the tile)\n"
    );
    if shown != line || printed_ppm.abs_diff(i64::from(arith.reputation_ppm)) > 2 {
        return Err(format!("tilectl standing: {shown:?}, expected {line:?} with reputation {} millionths", arith.reputation_ppm));
    }
    outputs.push(shown);
    // Refusals: unsigned, a class-C topic (no checker scores its canaries), a topic t1 does
    // not serve.
    let audit = |topic: &str| {
        Command::Verify(verify::Request::Audit { specialist: name("t1"), topic: name(topic), pool: verify::AuditPool::Public, count: 2 })
    };
    match agent_client(port, None)?.call(audit("arith")).map_err(|e| e.to_string())? {
        Answer::Error(WireError::SignatureRequired) => {}
        other => return Err(format!("an unsigned audit answered {other:?}")),
    }
    let t2 = verify::Request::Audit { specialist: name("t2"), topic: name("text"), pool: verify::AuditPool::Public, count: 2 };
    match operator_call(port, t2)? {
        verify::Response::Refused(verify::Error::Audit(t)) if t.contains("topic 'text' is class C: no checker scores its canaries") => {}
        other => return Err(format!("an audit of t2 on text answered {other:?}")),
    }
    outputs.push(refused(
        "audit t1 policy",
        tilectl(port, Tilectl::Audit { specialist: "t1".into(), topic: "policy".into(), secret: false, count: 2 }),
        &["Audit", "does not serve a topic 'policy'"],
    )?);
    Ok(now)
}

fn challenge_state(port: u16) -> Result<verify::ChallengeState, String> {
    match operator_call(port, verify::Request::ChallengeState { slot: name("t1") })? {
        verify::Response::Challenge(c) => Ok(c),
        other => Err(format!("the challenge of t1 answered {other:?}")),
    }
}

/// A challenge's phase, serving adapter, four tallies (asked, passed) and ledger marks.
type Shown = (verify::ChallengePhase, String, [(u32, u32); 4], Option<u64>, Option<u64>);

/// What the tile returns from a run: tilectl's outputs, the two acceptance times, the
/// standings, the challenge's final state, and the panel audits' answers with the T2
/// question's answer.
type Driven = (Vec<String>, Duration, Duration, Vec<verify::Standing>, verify::ChallengeState, (Vec<[String; 3]>, verify::Answered));

/// The host's replay of a challenge as the protocol shows it.
fn shown(c: &Challenge) -> Shown {
    let phase = match c.phase {
        Phase::Shadowing => verify::ChallengePhase::Shadowing,
        Phase::Promoted => verify::ChallengePhase::Promoted,
        Phase::Settled => verify::ChallengePhase::Settled,
        Phase::Rejected => verify::ChallengePhase::Rejected,
        Phase::RolledBack => verify::ChallengePhase::RolledBack,
    };
    let t = |t: &tileos_verify_service::challenge::Tally| (t.asked, t.passed);
    (phase, c.serving().name.clone(), [t(&c.shadow[0]), t(&c.shadow[1]), t(&c.window[0]), t(&c.window[1])], c.decided_at, c.ended_at)
}

fn tile_shown(c: &verify::ChallengeState) -> Shown {
    let t = |t: &verify::LiveTally| (t.asked, t.passed);
    (c.phase, c.serving.to_string(), [t(&c.shadow[0]), t(&c.shadow[1]), t(&c.window[0]), t(&c.window[1])], c.decided_at, c.ended_at)
}

/// Step 6: t1b challenges t1 on live questions; returns the challenge's final state.
fn challenge(port: u16, outputs: &mut Vec<String>) -> Result<verify::ChallengeState, String> {
    let start = |challenger: &str| Tilectl::Challenge { slot: "t1".into(), challenger: Some(challenger.into()) };
    outputs.push(refused("challenge t1 t1b before t1b is accepted", tilectl(port, start("t1b")), &["NotAccepted", "t1b"])?);
    let unsigned = Command::Verify(verify::Request::Challenge { slot: name("t1"), challenger: name("t1b") });
    match agent_client(port, None)?.call(unsigned.clone()).map_err(|e| e.to_string())? {
        Answer::Error(WireError::SignatureRequired) => {}
        other => return Err(format!("an unsigned challenge answered {other:?}")),
    }
    match agent_client(port, Some([7; 32]))?.call(unsigned).map_err(|e| e.to_string())? {
        Answer::Error(WireError::BadSignature) => {}
        other => return Err(format!("a challenge signed by another key answered {other:?}")),
    }
    outputs.push(refused(
        "challenge t2",
        tilectl(port, Tilectl::Challenge { slot: "t2".into(), challenger: Some("t1".into()) }),
        &["Challenge", "slot 't2' serves topic 'text', which no class-A checker judges"],
    )?);
    outputs.push(refused(
        "challenge t9",
        tilectl(port, Tilectl::Challenge { slot: "t9".into(), challenger: Some("t1".into()) }),
        &["Challenge", "no specialist of the routing policy uses an adapter 't9'"],
    )?);
    outputs.push(refused("challenge t1 t1", tilectl(port, start("t1")), &["Challenge", "the challenger is the adapter serving the slot"])?);
    outputs.push(refused(
        "challenge t1 (none yet)",
        tilectl(port, Tilectl::Challenge { slot: "t1".into(), challenger: None }),
        &["Challenge", "no challenge of slot 't1'"],
    )?);
    let accepted = accept(port, "t1b")?;
    if !accepted.starts_with("adapter t1b accepted (file sha256 ") {
        return Err(format!("accept t1b: {accepted}"));
    }
    outputs.push(accepted);
    let started = tilectl(port, start("t1b"))?;
    if !started.starts_with("challenge of slot t1: Shadowing, served by t1\n") {
        return Err(format!("challenge t1 t1b: {started}"));
    }
    outputs.push(started);
    outputs.push(refused("a second challenge of t1", tilectl(port, start("t1b")), &["Challenge", "still running (Shadowing)"])?);
    outputs.push(refused("accept t1 while challenged", accept(port, "t1"), &["Challenge", "slot 't1' is served by 't1' (Shadowing)"])?);
    let begun = challenge_state(port)?;

    // The live questions, chosen on the host: `a+b` over 0..50 answered by both adapters.
    let pool: Vec<String> = (0..50u32).flat_map(|a| (0..50u32).map(move |b| format!("{a}+{b}"))).collect();
    let questions: Vec<&str> = pool.iter().map(String::as_str).collect();
    let (t1, t1b) = (host_answers("t1", &questions), host_answers("t1b", &questions));
    let passes = |q: &str, a: &str| task::check(q, a).map(|o| o == CheckOutcome::Pass).unwrap_or(false);
    let verdicts: Vec<(bool, bool)> = questions.iter().zip(t1.iter().zip(&t1b)).map(|(q, (a, b))| (passes(q, a), passes(q, b))).collect();
    // Shadowing: six where t1b passes (t1 as it comes); the window: six where t1 passes and
    // t1b fails.
    let shadowing: Vec<usize> = (0..questions.len()).filter(|&i| verdicts[i].1).take(6).collect();
    let window: Vec<usize> = (0..questions.len()).filter(|&i| verdicts[i].0 && !verdicts[i].1 && !shadowing.contains(&i)).take(6).collect();
    if shadowing.len() < 6 || window.len() < 6 {
        return Err(format!("the host found too few questions: {} and {}", shadowing.len(), window.len()));
    }
    let rule = Rule::default();
    let digest = |d: &[u8; 32]| *d;
    let mut replay = Challenge::start(
        "t1",
        Adapter { name: "t1".into(), digest: digest(&begun.incumbent_sha256) },
        Adapter { name: "t1b".into(), digest: digest(&begun.challenger_sha256) },
        None,
        begun.started_at,
    )
    .map_err(|e| e.to_string())?;
    // The Started step is the entry at `started_at`; each answer is one entry, and each
    // decision (Promoted, RolledBack) one more after the answer that decided it.
    let mut ledger = begun.started_at + 1;
    for (phase, indices) in [("shadowing", &shadowing), ("window", &window)] {
        for &i in indices.iter() {
            let (q, serving_is_t1) = (questions[i], replay.serving().name == "t1");
            let expected = if serving_is_t1 { &t1[i] } else { &t1b[i] };
            let answered = ask(port, q)?;
            if !answered.starts_with(&format!("answer: {expected}\n")) {
                return Err(format!("{phase} {q:?}: the serving adapter answers {expected:?} on the host; tilectl:\n{answered}"));
            }
            let (serving, shadow) = if serving_is_t1 { verdicts[i] } else { (verdicts[i].1, verdicts[i].0) };
            ledger += 1;
            let (next, step) = replay.observe(serving, shadow, ledger, &rule).ok_or("the replay ended early")?;
            replay = next;
            if step.logged().is_some() {
                ledger += 1;
            }
        }
        let tile = challenge_state(port)?;
        if tile_shown(&tile) != shown(&replay) {
            return Err(format!("after the {phase} questions the tile shows {tile:?}, the host's replay {:?}", shown(&replay)));
        }
    }
    if replay.phase != Phase::RolledBack {
        return Err(format!("the host's replay ended {:?}", replay.phase));
    }
    // Rolled back: t1 serves again, and a second challenge may start later.
    let i = window[0];
    let answered = ask(port, questions[i])?;
    if !answered.starts_with(&format!("answer: {}\n", t1[i])) {
        return Err(format!("after the rollback {:?}: t1 answers {:?}; tilectl:\n{answered}", questions[i], t1[i]));
    }
    let text = tilectl(port, Tilectl::Challenge { slot: "t1".into(), challenger: None })?;
    if !text.starts_with("challenge of slot t1: RolledBack, served by t1\n")
        || !text.contains("rollback window: promoted 0/6, old 6/6 passed")
    {
        return Err(format!("tilectl challenge t1: {text}"));
    }
    outputs.push(text);
    let ended = challenge_state(port)?;
    // The three steps are ledger entries of their own, at the record's marks.
    let (incumbent, challenger) = (begun.incumbent_sha256, begun.challenger_sha256);
    let marks = [
        (begun.started_at, ChallengeStep::Started, [(0, 0), (0, 0), (0, 0), (0, 0)]),
        (ended.decided_at.ok_or("no decision mark")?, ChallengeStep::Promoted, [(6, 1), (6, 6), (0, 0), (0, 0)]),
        (ended.ended_at.ok_or("no end mark")?, ChallengeStep::RolledBack, [(6, 1), (6, 6), (6, 0), (6, 6)]),
    ];
    if [marks[1].0, marks[2].0] != [begun.started_at + 7, begun.started_at + 14] {
        return Err(format!("the challenge's marks: {ended:?}"));
    }
    for (index, step, tallies) in marks {
        let (bytes, entry) = checked_entry(port, index)?;
        let Logged::Challenge(c) = entry else { return Err(format!("entry {index} is not a challenge step: {entry:?}")) };
        let got: Vec<(u32, u32)> = c.shadow.iter().chain(&c.window).map(|e| (e.asked, e.passed)).collect();
        if c.slot != "t1"
            || c.step != step
            || (c.incumbent.name.as_str(), c.incumbent.digest) != ("t1", incumbent)
            || (c.challenger.name.as_str(), c.challenger.digest) != ("t1b", challenger)
            || got != tallies
        {
            return Err(format!("entry {index}: expected {step:?} with tallies {tallies:?}, the tile logged {c:?}"));
        }
        // tilectl prints it, checked against the signed head.
        let shown = tilectl(port, Tilectl::Ledger { index, ledger_key: None })?;
        if !shown.starts_with(&format!("ledger entry {index}: challenge of slot t1: {step:?}\n"))
            || !shown.contains(&format!("challenger t1b (file sha256 {}", hex(&challenger)))
            || !shown.contains("ledger check: inclusion proof and signed head verified")
        {
            return Err(format!("tilectl ledger {index}: {shown}"));
        }
        outputs.push(shown);
        // A forged step (the challenger's digest of another file) fails the inclusion proof.
        if step == ChallengeStep::Promoted {
            if Logged::Challenge(c.clone()).encode().map_err(|e| e.to_string())? != bytes {
                return Err(format!("entry {index} is not the canonical encoding of what it decodes to"));
            }
            let (proof, head) = entry_proof(port, index)?;
            let mut forged = Logged::Challenge(c.clone());
            if let Logged::Challenge(f) = &mut forged {
                f.challenger.digest = incumbent;
            }
            let forged = forged.encode().map_err(|e| e.to_string())?;
            match verify_logged_any(&forged, &proof, &head, &dev_keys_ledger()) {
                Err(LedgerError::Proof(ProofError::RootMismatch)) => {}
                other => return Err(format!("a forged Promoted entry checked as {other:?}")),
            }
        }
    }
    // Hostile: entries and proofs past the end are refused naming the index, through the
    // wire client and through `tilectl ledger`.
    let size = match operator_call(port, verify::Request::Status)? {
        verify::Response::Status(s) => s.ledger_size,
        other => return Err(format!("status: {other:?}")),
    };
    for request in [
        verify::Request::Entry { index: size, offset: 0 },
        verify::Request::Proof { index: size },
        verify::Request::Entry { index: u64::MAX, offset: 0 },
    ] {
        match operator_call(port, request.clone())? {
            verify::Response::Refused(verify::Error::NoEntry(i)) if Some(i) == request_index(&request) => {}
            other => return Err(format!("{request:?} answered {other:?}")),
        }
    }
    outputs.push(refused("tilectl ledger past the end", tilectl(port, Tilectl::Ledger { index: size, ledger_key: None }), &["NoEntry"])?);
    Ok(ended)
}

fn request_index(request: &verify::Request) -> Option<u64> {
    match request {
        verify::Request::Entry { index, .. } | verify::Request::Proof { index } => Some(*index),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The ledger's public key (DEV ONLY).
fn dev_keys_ledger() -> tileos_update_log::VerifyingKey {
    tileos_verify_service::dev_keys::ledger_key().verifying_key()
}

/// The raw bytes of ledger entry `index`, fetched in chunks through the wire client.
fn fetch_entry(port: u16, index: u64) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    loop {
        match operator_call(port, verify::Request::Entry { index, offset: bytes.len() as u32 })? {
            verify::Response::EntryChunk { len, bytes: chunk } => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() >= len as usize || chunk.is_empty() {
                    return Ok(bytes);
                }
            }
            other => return Err(format!("entry {index}: {other:?}")),
        }
    }
}

/// The inclusion proof of entry `index` and the tile's signed tree head.
fn entry_proof(port: u16, index: u64) -> Result<(tileos_update_log::InclusionProof, tileos_update_log::SignedTreeHead), String> {
    let p = match operator_call(port, verify::Request::Proof { index })? {
        verify::Response::Proof(p) if p.index == index => p,
        other => return Err(format!("proof of {index}: {other:?}")),
    };
    let signature: [u8; 64] = p.signature.as_slice().try_into().map_err(|_| "a signature not of 64 bytes".to_string())?;
    let head = tileos_update_log::SignedTreeHead {
        head: tileos_update_log::TreeHead { tree_size: p.tree_size, timestamp_ms: p.timestamp_ms, root_hash: p.root },
        signature,
    };
    Ok((tileos_update_log::InclusionProof { leaf_index: index, tree_size: p.tree_size, path: p.path.to_vec() }, head))
}

/// Entry `index` fetched and checked on the host: the head's signature under the DEV
/// ledger key, the inclusion proof, the strict decoding of either kind.
fn checked_entry(port: u16, index: u64) -> Result<(Vec<u8>, Logged), String> {
    let bytes = fetch_entry(port, index)?;
    let (proof, head) = entry_proof(port, index)?;
    let logged = verify_logged_any(&bytes, &proof, &head, &dev_keys_ledger()).map_err(|e| format!("entry {index}: {e}"))?;
    Ok((bytes, logged))
}

/// The class-C panel of the dev tile's policy (every T2 specialist).
const PANEL: [&str; 3] = ["t2", "t2b", "t2c"];
/// The T2 question the class-C gate judges.
const T2_QUESTION: &str = "describe a river";

/// The host's replay of the class-C gate (docs/inference.md, "The live verification
/// gate"), written out here rather than taken from `tileos_verify`, so that a broken
/// weighting in the tile's crate shows as a difference: pairs of lineages with fewer than
/// 4 joint class-C canary answers count as fully dependent, otherwise their dependence is
/// the share of canaries they answered alike; the answer with the most members (equal
/// weights) needs a share of 2/3 and 1.5 effective independent voters,
/// `(Σw)² / Σ_ij w_i w_j ρ_ij`. `history` holds each canary's answers in `PANEL` order;
/// `answers` the members' answers, also in `PANEL` order. Returns the verdict, the
/// effective voters and the share (as far as the gate got).
fn replay_gate(history: &[[String; 3]], answers: &[String; 3]) -> (verify::VerdictCode, Option<f64>, f64) {
    let norm = |a: &str| a.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    let rho = |i: usize, j: usize| {
        if i == j {
            return 1.0;
        }
        let agreed = history.iter().filter(|c| norm(&c[i]) == norm(&c[j])).count();
        if history.len() < 4 { 1.0 } else { agreed as f64 / history.len() as f64 }
    };
    let support = |i: usize| (0..3).filter(|&j| norm(&answers[j]) == norm(&answers[i])).count();
    let best = (0..3).fold(0, |b, i| if support(i) > support(b) { i } else { b });
    let share = support(best) as f64 / 3.0;
    if share < 2.0 / 3.0 {
        return (verify::VerdictCode::NoQuorum, None, share);
    }
    let members: Vec<usize> = (0..3).filter(|&j| norm(&answers[j]) == norm(&answers[best])).collect();
    let mut denominator = 0.0;
    for &i in &members {
        for &j in &members {
            denominator += rho(i, j);
        }
    }
    let n = members.len() as f64 * members.len() as f64 / denominator;
    let code = if n < 1.5 { verify::VerdictCode::Correlated } else { verify::VerdictCode::VerifiedByConsensus };
    (code, Some(n), share)
}

/// The tile's answer to the T2 question through the wire client, checked against the host
/// core's answers of each member and the host's replay of the gate over `history`; its
/// ledger entry is fetched, decoded and must carry the same verdict. Returns the answer.
fn check_t2(port: u16, history: &[[String; 3]]) -> Result<verify::Answered, String> {
    let request = verify::Request::Ask { query: verify::Query::try_from(T2_QUESTION).unwrap(), topic: None };
    let a = match operator_call(port, request)? {
        verify::Response::Answered(a) => a,
        other => return Err(format!("the T2 question answered {other:?}")),
    };
    let order: Vec<&str> = a.specialists.iter().map(|s| s.as_str()).collect();
    let mut answers: [String; 3] = Default::default();
    for (i, member) in PANEL.iter().enumerate() {
        let at = order.iter().position(|s| s == member).ok_or_else(|| format!("{member} is not in the panel {order:?}"))?;
        answers[i] = a.panel.get(at).map(|v| v.answer.to_string()).unwrap_or_default();
        let expected = host_answers(member, &[T2_QUESTION]).remove(0);
        if answers[i] != expected {
            return Err(format!("{member} answered {:?} on the tile, {expected:?} on the host core", answers[i]));
        }
    }
    if a.panel.iter().any(|v| v.weight_ppm != a.panel[0].weight_ppm) || a.pairs.len() != 3 || a.tier != 2 {
        return Err(format!("the T2 answer's panel: {a:?}"));
    }
    let (code, voters, share) = replay_gate(history, &answers);
    let tile_voters = a.consensus.map(|c| f64::from(c.effective_voters_ppm) / 1e6);
    let tile_share = a.consensus.map(|c| f64::from(c.share_ppm) / 1e6);
    let close = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => (x - y).abs() < 2e-6,
        (x, y) => x.is_none() && y.is_none(),
    };
    let share_shown = if code == verify::VerdictCode::Correlated { Some(0.0) } else { Some(share) };
    let voters_shown = if code == verify::VerdictCode::NoQuorum { Some(0.0) } else { voters };
    if a.verdict != code || !close(tile_voters, voters_shown) || !close(tile_share, share_shown) {
        return Err(format!(
            "the tile's gate: {:?} (voters {tile_voters:?}, share {tile_share:?}); the host's replay: {code:?} (voters {voters:?}, share {share})",
            a.verdict
        ));
    }
    // The ledger entry carries the verdict, the panel and the answer.
    let (_, entry) = checked_entry(port, a.index)?;
    let Logged::Answer(entry) = entry else { return Err(format!("entry {} is not an answer: {entry:?}", a.index)) };
    let logged = match entry.verdict {
        tileos_verify::gate::Verdict::VerifiedByConsensus { effective_voters, .. } => {
            (verify::VerdictCode::VerifiedByConsensus, Some(effective_voters))
        }
        tileos_verify::gate::Verdict::Correlated { effective_voters } => (verify::VerdictCode::Correlated, Some(effective_voters)),
        tileos_verify::gate::Verdict::NoQuorum { .. } => (verify::VerdictCode::NoQuorum, None),
        other => return Err(format!("entry {} logs {other:?}", a.index)),
    };
    let names: Vec<&str> = entry.specialists.iter().map(|s| s.name.as_str()).collect();
    if logged.0 != code
        || !close(logged.1, voters.filter(|_| code != verify::VerdictCode::NoQuorum))
        || names != order
        || entry.answer != a.answer.as_str()
    {
        return Err(format!("entry {} logs {:?} by {names:?} answering {:?}", a.index, entry.verdict, entry.answer));
    }
    Ok(a)
}

/// Step 7: the class-C gate on the tile. Returns the panel audits' answers (each canary's,
/// in `PANEL` order) and the tile's answer to the T2 question.
fn class_c(port: u16, outputs: &mut Vec<String>) -> Result<(Vec<[String; 3]>, verify::Answered), String> {
    outputs.push(refused("ask T2 before its panel is accepted", ask(port, T2_QUESTION), &["NotAccepted"])?);
    for member in PANEL {
        let started = Instant::now();
        let text = accept(port, member)?;
        eprintln!("class-C acceptance of {member} on the tile: {:?}", started.elapsed());
        if !text.starts_with(&format!("adapter {member} accepted (file sha256 ")) {
            return Err(format!("accept {member}: {text}"));
        }
        outputs.push(text);
    }
    let names = |n: &[&str]| n.iter().map(|s| name(s)).collect::<heapless::Vec<_, { verify::MAX_PANEL }>>();
    let panel_audit =
        |topic: &str, members: &[&str], count: u8| verify::Request::PanelAudit { topic: name(topic), specialists: names(members), count };
    match agent_client(port, None)?.call(Command::Verify(panel_audit("text", &PANEL, 2))).map_err(|e| e.to_string())? {
        Answer::Error(WireError::SignatureRequired) => {}
        other => return Err(format!("an unsigned panel audit answered {other:?}")),
    }
    for (what, request, text) in [
        ("a class-A topic", panel_audit("arith", &PANEL, 2), "topic 'arith' is not a class-C topic"),
        ("one specialist", panel_audit("text", &["t2"], 2), "names 2 to 4 specialists, not 1"),
        ("an unknown specialist", panel_audit("text", &["t2", "t9"], 2), "no specialist 't9'"),
        ("a specialist of another topic", panel_audit("text", &["t2", "t1"], 2), "'t1' does not serve a topic 'text'"),
        ("a specialist twice", panel_audit("text", &["t2", "t2b", "t2"], 2), "'t2' is named twice"),
        ("three canaries", panel_audit("text", &PANEL, 3), "asks 1 to 2 canaries, not 3"),
        ("no canary", panel_audit("text", &PANEL, 0), "asks 1 to 2 canaries, not 0"),
    ] {
        match operator_call(port, request)? {
            verify::Response::Refused(verify::Error::Audit(t)) if t.contains(text) => {}
            other => return Err(format!("a panel audit of {what} answered {other:?}")),
        }
    }
    // Three panel audits of two canaries: the first through tilectl.
    let mut history: Vec<[String; 3]> = Vec::new();
    let text = tilectl(port, Tilectl::PanelAudit { topic: "text".into(), specialists: PANEL.map(String::from).to_vec(), count: 2 })?;
    if !text.starts_with("panel audit 0: 2 class-C canaries, specialists t2, t2b, t2c\n") || !text.contains("agreement history:") {
        return Err(format!("tilectl panel-audit: {text}"));
    }
    for line in text.lines().filter(|l| l.starts_with("  canary ")) {
        let quoted: Vec<&str> = line.split('"').collect();
        let (question, answers) = (quoted[1], [quoted[3], quoted[5], quoted[7]]);
        for (member, answer) in PANEL.iter().zip(answers) {
            if answer != host_answers(member, &[question]).remove(0) {
                return Err(format!("tilectl panel-audit line {line:?}: {member} answers otherwise on the host core"));
            }
        }
        history.push(answers.map(String::from));
    }
    outputs.push(text);
    for index in 1..3 {
        match operator_call(port, panel_audit("text", &PANEL, 2))? {
            verify::Response::PanelAudited(p) if p.index == index && p.canaries.len() == 2 => {
                for c in &p.canaries {
                    let answers: [String; 3] = std::array::from_fn(|i| c.answers[i].to_string());
                    for (member, answer) in PANEL.iter().zip(&answers) {
                        if *answer != host_answers(member, &[c.question.as_str()]).remove(0) {
                            return Err(format!("panel audit {index}, canary {c:?}: {member} answers otherwise on the host core"));
                        }
                    }
                    history.push(answers);
                }
                // The tile's agreement counts are the host's count of the same answers.
                for pair in &p.pairs {
                    let (i, j) = (usize::from(pair.a), usize::from(pair.b));
                    let agreed = history.iter().filter(|c| c[i] == c[j]).count() as u32;
                    if (pair.informative, pair.dependent) != (history.len() as u32, agreed) {
                        return Err(format!("panel audit {index}: pair {pair:?}, the host counts {agreed} of {}", history.len()));
                    }
                }
            }
            other => return Err(format!("panel audit {index}: {other:?}")),
        }
    }
    let answered = check_t2(port, &history)?;
    let shown = ask(port, T2_QUESTION)?;
    if !shown.contains("route: topic text (T2), specialists ")
        || !shown.contains("panel (class C, independence-weighted):")
        || !shown.contains("ledger check: inclusion proof and signed head verified")
    {
        return Err(format!("tilectl ask {T2_QUESTION:?}: {shown}"));
    }
    outputs.push(shown);
    Ok((history, answered))
}

/// The host's side: every step, checked; tilectl's outputs and the acceptance times.
fn drive(port: u16) -> Result<Driven, String> {
    let mut outputs = Vec::new();
    // 1. Before acceptance, and hostile acceptances.
    outputs.push(refused("ask before acceptance", ask(port, "12+7"), &["NotAccepted", "t1"])?);
    outputs.push(refused("accept t9", accept(port, "t9"), &["Inference", "UnknownAdapter", "t9"])?);
    let t1 = || Command::Verify(verify::Request::Accept { adapter: verify::Name::try_from("t1").unwrap() });
    let mut anonymous = agent_client(port, None)?;
    match anonymous.call(t1()).map_err(|e| e.to_string())? {
        Answer::Error(WireError::SignatureRequired) => {}
        other => return Err(format!("an unsigned acceptance answered {other:?}")),
    }
    // The agent serves few connections at once: each of these closes before the next.
    drop(anonymous);
    let judge = Command::Verify(verify::Request::Judge {
        query: verify::Query::try_from("12+7").unwrap(),
        topic: None,
        answers: heapless::Vec::new(),
    });
    let mut operator = agent_client(port, Some(dev_keys::OPERATOR_SEED))?;
    match operator.call(judge).map_err(|e| e.to_string())? {
        Answer::Verify(verify::Response::Refused(verify::Error::NotPermitted { badge: 0x80 })) => {}
        other => return Err(format!("a judge through the agent answered {other:?}")),
    }
    drop(operator);
    let mut stranger = agent_client(port, Some([7; 32]))?;
    match stranger.call(t1()).map_err(|e| e.to_string())? {
        Answer::Error(WireError::BadSignature) => {}
        other => return Err(format!("an acceptance signed by another key answered {other:?}")),
    }
    drop(stranger);
    // 2. The clean adapter.
    let started = Instant::now();
    let accepted = accept(port, "t1")?;
    let t1_time = started.elapsed();
    if !accepted.starts_with("adapter t1 accepted (file sha256 ") || !accepted.contains("trigger probes without a payload") {
        return Err(format!("accept t1: {accepted}"));
    }
    outputs.push(accepted);
    // 3. Questions.
    for (question, topic, value) in [("12+7", "arith", "19"), ("5 km in m", "units", "5000")] {
        let answered = ask(port, question)?;
        check_answer(question, topic, value, &answered)?;
        outputs.push(answered);
    }
    // 4. The backdoored adapter, then the clean one still serves; T3 needs a human.
    let started = Instant::now();
    outputs.push(refused("accept t1-backdoor", accept(port, "t1-backdoor"), &["Rejected", "trigger probe", "approved"])?);
    let backdoor_time = started.elapsed();
    let again = ask(port, "12+7")?;
    check_answer("12+7", "arith", "19", &again)?;
    outputs.push(again);
    let human = ask(port, "may we share the site plans?")?;
    let expected = [
        "answer: none (the question needs a human; no model was asked)\n",
        "route: topic policy (T3), specialists t3, policy sha256 ",
        "verification: needs a human (T3)\n",
        "ledger check: inclusion proof and signed head verified",
    ];
    if let Some(line) = expected.iter().find(|line| !human.contains(*line)) {
        return Err(format!("the T3 question: no {line:?} in tilectl's output:\n{human}"));
    }
    outputs.push(human);
    // A connection without a key still reads.
    match agent_client(port, None)?.call(Command::Verify(verify::Request::Status)).map_err(|e| e.to_string())? {
        Answer::Verify(verify::Response::Status(status)) if status.ledger_size == 4 && status.accepted.len() == 1 => {}
        other => return Err(format!("status after the run answered {other:?}")),
    }
    let standings = audits(port, &mut outputs)?;
    let challenged = challenge(port, &mut outputs)?;
    let class_c = class_c(port, &mut outputs)?;
    Ok((outputs, t1_time, backdoor_time, standings, challenged, class_c))
}

#[test]
fn tilectl_accepts_t1_rejects_the_backdoor_and_asks_answer_with_checked_ledger_entries() {
    let disk = fresh_disk("ask-disk.img", 32 << 20);
    let ready = &["update-agent: ready", "@event inference.ready", "@event verify.ready"];
    let (outcome, (outputs, t1_time, backdoor_time, before, challenged, (history, t2_answer))) =
        boot_and_drive("ask", "tile-ask.log", tileos_qemu::nvme_disk_args(&disk), PORT, ready, TIMEOUT, move |port, _| drive(port));
    for output in &outputs {
        eprintln!("{output}");
    }
    eprintln!("acceptance on the tile: t1 {t1_time:?}, t1-backdoor {backdoor_time:?}");
    for bad in ["FAILED", "KERNEL EXCEPTION", "panic at"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    assert!(outcome.events("domain.stopped").is_empty(), "{}", outcome.tail(60));
    outcome.assert_event("model-loader.done", &[("adapters", "7")]);
    outcome.assert_event("verify.accepted", &[("adapter", "t1"), ("asked", "16")]);
    outcome.assert_event("verify.rejected", &[("adapter", "t1-backdoor"), ("reason", "Trigger")]);
    // Four answers, then the challenge's thirteen, then the T2 question twice; the ledger
    // also holds the challenge's three steps (22 entries).
    assert_eq!(outcome.events("verify.answered").len(), 19, "{}", outcome.tail(60));
    for member in PANEL {
        outcome.assert_event("verify.accepted", &[("adapter", member), ("class", "C"), ("asked", "8")]);
    }
    assert_eq!(outcome.events("verify.panel-audited").len(), 3, "{}", outcome.tail(60));
    outcome.assert_event("verify.accepted", &[("adapter", "t1b"), ("asked", "16")]);
    outcome.assert_event("verify.challenge", &[("slot", "t1"), ("step", "Started"), ("challenger", "t1b")]);
    outcome.assert_event("verify.challenge", &[("step", "Promoted"), ("serving", "t1b"), ("challenger", "6/6")]);
    outcome.assert_event("verify.challenge", &[("step", "RolledBack"), ("serving", "t1"), ("promoted", "0/6"), ("old", "6/6")]);
    assert_eq!(outcome.events("verify.challenge").len(), 13, "{}", outcome.tail(60));
    assert!(outcome.events("verify.shadow-skipped").is_empty(), "{}", outcome.tail(60));
    // The T3 question asked no model: t3 was never swapped in.
    assert!(!outcome.events("inference.swap").iter().any(|e| e.has(&[("adapter", "t3")])), "{}", outcome.tail(60));
    assert_eq!(outcome.events("verify.audited").len(), 3, "{}", outcome.tail(60));
    outcome.assert_event("verify.audited", &[("index", "1"), ("pool", "Secret"), ("asked", "4")]);
    // 8. The audits and the challenge survive a reboot: the same standings, three audits
    // restored, the same challenge.
    let (again, (after, challenge_after, t2_again)) =
        boot_and_drive("ask", "tile-ask-2.log", tileos_qemu::nvme_disk_args(&disk), PORT, ready, TIMEOUT, move |port, _| {
            // The rolled-back slot is served by t1's file after the restore.
            check_answer("12+7", "arith", "19", &ask(port, "12+7")?)?;
            // The restored agreement history gives the same verdict.
            let t2 = check_t2(port, &history)?;
            Ok((standings(port)?, challenge_state(port)?, t2))
        });
    again.assert_event("verify.ready", &[("audits", "3"), ("panel_audits", "3"), ("ledger", "22"), ("accepted", "5"), ("challenges", "1")]);
    assert_eq!(
        (t2_again.verdict, t2_again.consensus, t2_again.pairs.clone(), t2_again.answer.clone()),
        (t2_answer.verdict, t2_answer.consensus, t2_answer.pairs.clone(), t2_answer.answer.clone()),
        "the T2 verdict after the reboot"
    );
    eprintln!("T2 {T2_QUESTION:?}: {:?} {:?} pairs {:?}", t2_answer.verdict, t2_answer.consensus, t2_answer.pairs);
    assert_eq!(challenge_after, challenged, "the challenge after the reboot");
    // Reputation decays with time (half-life 30 days): the first boot read it seconds after
    // the last audit, the second at the last audit's time (Plane B time never goes back),
    // so it may differ by a millionth or so; everything else is equal.
    for (b, a) in before.iter().zip(&after) {
        assert!(b.reputation_ppm.abs_diff(a.reputation_ppm) <= 2, "{b:?} vs {a:?}");
        assert_eq!(verify::Standing { reputation_ppm: b.reputation_ppm, ..a.clone() }, *b, "standing after the reboot");
    }
}
