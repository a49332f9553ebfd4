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
//! 5. the verify domain logged `verify.accepted` for t1 and `verify.rejected` for
//!    t1-backdoor.

use std::time::{Duration, Instant};

use tileos_inference::{Base, Catalog, Engine};
use tileos_protocol::verify;
use tileos_qemu::host::{self, agent_client, boot_and_drive};
use tileos_qemu::images::{fresh_disk, workspace_root};
use tileos_tilectl::Command as Tilectl;
use tileos_tilectl_wire::{Answer, Command, PORT, WireError, dev_keys};

const TIMEOUT: Duration = Duration::from_secs(240);

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
    let read = |name: &str| {
        let path = workspace_root().join("weights").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let (base_file, t1) = (read("base.safetensors"), read("t1.safetensors"));
    let base = Base::parse(&base_file).expect("the shipped base");
    let mut catalog = Catalog::new();
    catalog.insert("t1", &t1).expect("catalog");
    let answer = Engine::new(&base).request(&catalog, "t1", question.as_bytes(), 61).expect("host core");
    String::from_utf8_lossy(&answer.answer).into_owned()
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

/// The host's side: every step, checked; tilectl's outputs and the acceptance times.
fn drive(port: u16) -> Result<(Vec<String>, Duration, Duration), String> {
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
    Ok((outputs, t1_time, backdoor_time))
}

#[test]
fn tilectl_accepts_t1_rejects_the_backdoor_and_asks_answer_with_checked_ledger_entries() {
    let disk = fresh_disk("ask-disk.img", 32 << 20);
    let ready = &["update-agent: ready", "@event inference.ready", "@event verify.ready"];
    let (outcome, (outputs, t1_time, backdoor_time)) =
        boot_and_drive("ask", "tile-ask.log", tileos_qemu::nvme_disk_args(&disk), PORT, ready, TIMEOUT, move |port, _| drive(port));
    for output in &outputs {
        eprintln!("{output}");
    }
    eprintln!("acceptance on the tile: t1 {t1_time:?}, t1-backdoor {backdoor_time:?}");
    for bad in ["FAILED", "KERNEL EXCEPTION", "panic at"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    assert!(outcome.events("domain.stopped").is_empty(), "{}", outcome.tail(60));
    outcome.assert_event("model-loader.done", &[("adapters", "4")]);
    outcome.assert_event("verify.accepted", &[("adapter", "t1"), ("asked", "16")]);
    outcome.assert_event("verify.rejected", &[("adapter", "t1-backdoor"), ("reason", "Trigger")]);
    assert_eq!(outcome.events("verify.answered").len(), 4, "{}", outcome.tail(60));
    // The T3 question asked no model: t3 was never swapped in.
    assert!(!outcome.events("inference.swap").iter().any(|e| e.has(&[("adapter", "t3")])), "{}", outcome.tail(60));
}
