//! The manager's side of the verifier domain (docs/slots.md, "Installs") against hostile and
//! broken callers: verdicts forged by domains that are not the verifier (a client, a seat),
//! replayed or stale verdicts, verdicts before the job's bytes were fetched, malformed calls,
//! fetches out of range, a verifier that restarts mid-job or never answers. None of them can
//! commit an install; each is answered with its reason; the manager keeps serving and a
//! retry installs.

mod common;

use common::*;
use tileos_bundle_verifier::{CHUNK, Call, CallError, DropReason, REFUSED, Verdict};
use tileos_protocol::slots::{RefusalKind, Response};
use tileos_protocol::{ProtocolError, decode};
use tileos_slot_manager::{Access, Message, VERIFIER_DEADLINE};

fn refusal(reply: &Message) -> (RefusalKind, String) {
    match decode::<Response>(reply.label, &reply.words) {
        Ok(Response::Refused(r)) => (r.kind, r.reason.to_string()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The refusal code of the manager's answer to the verifier's last call.
fn refused_with(sim: &mut Sim) -> CallError {
    assert!(sim.hold_verifier, "the verifier is held: its answers wait in verifier_work");
    sim.pump();
    let work = sim.verifier_work.pop_back().expect("the manager answered the verifier");
    assert_eq!(work.label, REFUSED, "{work:?}");
    let (label, words) = tileos_bundle_verifier::refused(CallError::Malformed);
    assert_eq!(label, work.label);
    assert_eq!(words.len(), work.words.len());
    [CallError::Malformed, CallError::NoJob, CallError::WrongJob, CallError::BadOffset, CallError::Early]
        .into_iter()
        .find(|e| tileos_bundle_verifier::refused(*e).1 == work.words)
        .expect("a known code")
}

/// Stages and commits `bundle` with the verifier held; the commit's reply capability and the
/// job's id (from the chunk the manager gave the verifier).
fn commit_held(sim: &mut Sim, bundle: &[u8]) -> (u64, u64) {
    sim.hold_verifier = true;
    let commit = sim.stage_and_commit(bundle);
    sim.pump();
    let first = sim.verifier_work.front().expect("the job went to the waiting verifier").clone();
    assert_eq!(first.label, CHUNK);
    (commit, first.words[0])
}

/// Lets the held verifier run the job to its verdict (each of its calls handled at once).
fn release_verifier(sim: &mut Sim) {
    sim.hold_verifier = false;
    sim.pump();
}

/// Runs the install steps until the commit is answered.
fn finish(sim: &mut Sim, commit: u64) -> Message {
    for _ in 0..10_000 {
        if let Some(reply) = sim.take_reply(commit) {
            sim.pump();
            return reply;
        }
        if sim.m.install_steppable() {
            sim.m.install_step();
        }
        sim.pump();
    }
    panic!("the commit was never answered");
}

#[test]
fn a_forged_verdict_from_a_client_or_a_seat_changes_nothing() {
    let mut sim = Sim::new(config(policy(), 4));
    // An unsigned-key bundle: only a forged "Verified" could get it in.
    let wrong = bundle_with(&tileos_module_bundle::BundleSigner::from_seeds(&[9; 32], &[9; 32]), b"fast", vec![]);
    // (Its signer is unknown: refused by the manager's own check before any job.)
    assert_eq!(refusal(&Message::encode(&sim.install(&wrong))).0, RefusalKind::Bundle);
    // A bundle tampered in its manifest: signed key, bad signature.
    let mut tampered = bundle(b"fast");
    tampered[3427 + 2] ^= 1;
    let (commit, job) = commit_held(&mut sim, &tampered);
    let (label, words) = Call::Verdict { job, verdict: Verdict::Verified }.encode();
    // A service client (no seat bit): not its protocol.
    let id = sim.send_control(0x42, Access::Service, Message { label, words: words.clone() });
    sim.pump();
    // A control client: not a control request.
    let control = sim.send_control(CONTROL, Access::Full, Message { label, words: words.clone() });
    assert_eq!(sim.take_reply(control), Some(Message::error(ProtocolError::UnknownLabel)));
    // A seat's module (badges are unforgeable: seat 0's).
    let violations = sim.m.stats().violations;
    sim.module_call(0, Message { label, words });
    assert!(sim.m.stats().violations > violations, "a seat's verdict is a violation");
    assert!(sim.m.install_pending() && !sim.m.install_steppable(), "the job still waits for the verifier");
    // The real verifier's verdict refuses it, with the reason the manager always gave.
    release_verifier(&mut sim);
    let reply = finish(&mut sim, commit);
    assert_eq!(refusal(&reply), (RefusalKind::Bundle, "bundle refused: Ed25519 signature does not verify".to_string()));
    let _ = sim.take_reply(id);
    assert_eq!(sim.m.slot().counters().installed, 0);
    // Clients are served, and the right bundle installs.
    sim.request(1, 5);
    sim.pump();
    assert_eq!(sim.answers[&(1, 0)].len(), 1);
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
}

#[test]
fn stale_replayed_early_and_malformed_calls_are_refused_with_their_reason() {
    let mut sim = Sim::new(config(policy(), 4));
    // A verdict with no job waiting (replayed from nowhere).
    sim.hold_verifier = true;
    sim.verifier_call(Call::Verdict { job: 1, verdict: Verdict::Verified });
    assert_eq!(refused_with(&mut sim), CallError::NoJob);
    sim.verifier_call(Call::Fetch { job: 1, offset: 0 });
    assert_eq!(refused_with(&mut sim), CallError::NoJob);
    // Malformed calls: unknown label, wrong word counts, unknown codes.
    for (label, words) in
        [(0x1a9, vec![]), (tileos_bundle_verifier::VERDICT, vec![1]), (tileos_bundle_verifier::READY, vec![9]), (0, vec![])]
    {
        // The verifier's badge: the manager routes it to the verifier protocol.
        sim.verifier_raw(Message { label, words });
        assert_eq!(refused_with(&mut sim), CallError::Malformed);
    }
    // The verifier is waiting again (a READY after the refusals).
    sim.verifier_call(Call::Ready(DropReason::Refused(CallError::Malformed)));
    let (commit, job) = commit_held(&mut sim, &bundle(b"fast"));
    sim.verifier_work.clear();
    // Another job's verdict, an early verdict, a fetch out of range.
    sim.verifier_call(Call::Verdict { job: job + 1, verdict: Verdict::Verified });
    assert_eq!(refused_with(&mut sim), CallError::WrongJob);
    sim.verifier_call(Call::Verdict { job, verdict: Verdict::Verified });
    assert_eq!(refused_with(&mut sim), CallError::Early, "a verdict before every byte was fetched");
    for offset in [4_000_000, u64::MAX] {
        sim.verifier_call(Call::Fetch { job, offset });
        assert_eq!(refused_with(&mut sim), CallError::BadOffset);
    }
    sim.verifier_call(Call::Fetch { job: job ^ (1 << 40), offset: 0 });
    assert_eq!(refused_with(&mut sim), CallError::WrongJob, "a job of another manager generation");
    assert!(sim.m.install_pending() && !sim.m.install_steppable());
    // The verifier, told it was refused, drops the job: the install is refused with that
    // reason (never committed), and a retry works.
    let call = sim.verifier.handle(REFUSED, &tileos_bundle_verifier::refused(CallError::Early).1, &[]);
    assert_eq!(call, Call::Ready(DropReason::Refused(CallError::Early)));
    sim.verifier_call(call);
    sim.hold_verifier = false;
    let reply = finish(&mut sim, commit);
    let (kind, reason) = refusal(&reply);
    assert_eq!(kind, RefusalKind::Bundle);
    assert!(reason.starts_with("bundle not verified: the verifier dropped the job: its call was refused (Early) during job"), "{reason}");
    assert_eq!(sim.m.slot().counters().installed, 0);
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
    // Its verdict, replayed now, is refused: the job is over.
    sim.hold_verifier = true;
    sim.verifier_call(Call::Verdict { job, verdict: Verdict::Verified });
    assert_eq!(refused_with(&mut sim), CallError::NoJob);
}

#[test]
fn a_verifier_restarting_mid_job_refuses_the_install_and_a_retry_installs() {
    let mut sim = Sim::new(config(policy(), 4));
    let (commit, job) = commit_held(&mut sim, &bundle(b"fast"));
    // Half way: one chunk taken, then the verifier faults and the root server restarts it.
    let first = sim.verifier_work.pop_front().unwrap();
    assert!(matches!(sim.verifier.handle(first.label, &first.words, &[]), Call::Fetch { .. }));
    sim.verifier = tileos_bundle_verifier::Verifier::new();
    let start = sim.verifier.first_call();
    sim.verifier_call(start);
    sim.hold_verifier = false;
    let reply = finish(&mut sim, commit);
    assert_eq!(
        refusal(&reply),
        (
            RefusalKind::Bundle,
            format!(
                "bundle not verified: the verifier domain restarted during job {job:#x} (nothing installed; the install may be retried)"
            )
        )
    );
    assert!(sim.notes().contains("slot.verifier-dropped"), "{}", sim.notes());
    assert_eq!(sim.m.slot().counters().installed, 0);
    // The log has the refusal.
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
}

#[test]
fn no_verdict_within_the_deadline_refuses_the_install() {
    let mut sim = Sim::new(config(policy(), 4));
    let (commit, job) = commit_held(&mut sim, &bundle(b"fast"));
    // The verifier never answers (starved, or its restarts ran out).
    sim.advance(VERIFIER_DEADLINE + 1_000);
    let reply = finish(&mut sim, commit);
    let (kind, reason) = refusal(&reply);
    assert_eq!(kind, RefusalKind::Bundle);
    assert_eq!(
        reason,
        format!("bundle not verified: no verdict from the verifier domain within 30 s of the commit (it had the job; job {job:#x})")
    );
    // Its late verdict is refused; then it waits again and a retry installs.
    sim.verifier_work.clear();
    sim.verifier = tileos_bundle_verifier::Verifier::new();
    sim.verifier_call(Call::Verdict { job, verdict: Verdict::Verified });
    assert_eq!(refused_with(&mut sim), CallError::NoJob);
    sim.verifier_call(Call::Ready(DropReason::Refused(CallError::NoJob)));
    sim.hold_verifier = false;
    assert_eq!(sim.install(&bundle(b"fast")), Response::Installed { module: 1 });
}

#[test]
fn clients_are_served_while_the_verifier_holds_the_job() {
    let mut sim = Sim::new(config(policy(), 4));
    let (commit, _) = commit_held(&mut sim, &bundle(b"fast"));
    for x in 0..20 {
        sim.request(1, x);
        sim.pump();
    }
    assert!((0..20).all(|seq| sim.answers[&(1, seq)].len() == 1));
    assert!(sim.take_reply(commit).is_none(), "the commit waits for the verdict");
    release_verifier(&mut sim);
    let reply = finish(&mut sim, commit);
    assert_eq!(decode::<Response>(reply.label, &reply.words), Ok(Response::Installed { module: 1 }));
    assert_eq!(sim.m.slot().counters().installed, 1);
}
