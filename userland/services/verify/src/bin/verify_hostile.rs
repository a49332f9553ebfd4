//! `verify-hostile`: the verify boot test's client (scenario `verify`,
//! qemu/runner/tests/verify.rs). One `@event verifyhostile.check what=… result=ok|FAILED`
//! line per check.
//!
//! As the judge (its badge has `judge = 1` and the supervisor capability): logs a right, a
//! wrong and a T3 answer and checks their verdicts, fetches an entry and checks it on its
//! own against the signed tree head (`verify_logged`); writes a signed fragment, retrieves
//! it and checks the proof (and that a tampered proof or leaf fails); then hostile input:
//! unknown topic, a T2 query answered by one member of its three-lineage panel, an unreadable class-A
//! query, answers from specialists not routed / missing / twice, a forged, replayed and
//! unauthorised write, an entry and a fragment that do not exist, an offset past an entry,
//! ask and accept without an inference domain, raw malformed messages (unknown label,
//! length beyond the message, negative length, undecodable, an oversized query); Plane B
//! audits (its badge has `audit = 1`) of an unknown specialist, of a topic the specialist
//! does not serve, of 0 and of 9 canaries, a raw audit naming a 40-byte specialist, and a
//! valid audit without an inference domain; a standing of an unknown specialist;
//! challenges (its badge has `challenge = 1`) of an unknown slot, of a class-C slot, by an
//! adapter never accepted, a raw challenge naming a 40-byte slot, and the state of a slot
//! never challenged; each gets its precise refusal, and t1's standing stays empty. Then it has the supervisor restart
//! the verify domain and checks that every entry is still there with the same bytes and
//! that the domain still serves (and still refuses a bad audit precisely). As the stranger
//! (no `judge`, `audit` or `challenge` param): its Judge, its Audit and its Challenge are
//! refused naming its badge; it may read a standing and a challenge's state.
#![no_std]
#![no_main]

extern crate alloc;
extern crate tileos_rt;

use alloc::vec::Vec;
use tileos_protocol::supervisor::{self, Supervisor};
use tileos_protocol::verify::{self as proto, AuditPool, Error, GivenAnswer, Request, Response, VerdictCode, Verify};
use tileos_protocol::{MESSAGE, ProtocolError};
use tileos_sys::rpc::{CallError, Client};
use tileos_sys::{log, log_event};
use tileos_update_log::{InclusionProof, SignedTreeHead, TreeHead};
use tileos_verify::Tier;
use tileos_verify::knowledge::{Fragment, Retrieved, SignedWrite, verify_retrieved};
use tileos_verify::ledger::verify_logged;
use tileos_verify_service::dev_keys;

tileos_sys::resources! {
    /// Capabilities by name.
    struct Resources {
        /// The verify protocol.
        verify: ClientEndpoint("verify"),
        /// The supervisor (the judge only: it restarts the verify domain).
        supervisor: ClientEndpoint("supervisor", optional),
    }
}

tileos_sys::entry!(main);

fn check(what: &str, ok: bool, detail: &dyn core::fmt::Debug) {
    log_event!("verifyhostile.check", what = what, result = if ok { "ok" } else { "FAILED" });
    if !ok {
        log!("verify-hostile: {what}: {detail:?}");
    }
}

/// A call, retried while the verify domain restarts.
fn call(client: &Client<Verify>, request: &Request) -> Response {
    loop {
        match client.call(request) {
            Ok(response) => return response,
            Err(CallError::ServerRestarted) => tileos_sys::yield_now(),
            Err(error) => {
                log!("verify-hostile: FAILED: {request:?}: {error:?}");
                tileos_sys::domain::stop();
            }
        }
    }
}

fn judge(client: &Client<Verify>, query: &str, topic: Option<&str>, answers: &[(&str, &str)]) -> Response {
    let answers = answers
        .iter()
        .map(|(s, a)| GivenAnswer { specialist: (*s).try_into().unwrap_or_default(), answer: (*a).try_into().unwrap_or_default() })
        .collect();
    let topic = topic.map(|t| t.try_into().unwrap_or_default());
    call(client, &Request::Judge { query: query.try_into().unwrap_or_default(), topic, answers })
}

fn audit(client: &Client<Verify>, specialist: &str, topic: &str, count: u8) -> Response {
    let (specialist, topic) = (specialist.try_into().unwrap_or_default(), topic.try_into().unwrap_or_default());
    call(client, &Request::Audit { specialist, topic, pool: AuditPool::Public, count })
}

fn standing(client: &Client<Verify>, specialist: &str, topic: &str) -> Response {
    let (specialist, topic) = (specialist.try_into().unwrap_or_default(), topic.try_into().unwrap_or_default());
    call(client, &Request::Standing { specialist, topic })
}

fn challenge(client: &Client<Verify>, slot: &str, challenger: &str) -> Response {
    let (slot, challenger) = (slot.try_into().unwrap_or_default(), challenger.try_into().unwrap_or_default());
    call(client, &Request::Challenge { slot, challenger })
}

fn challenge_state(client: &Client<Verify>, slot: &str) -> Response {
    call(client, &Request::ChallengeState { slot: slot.try_into().unwrap_or_default() })
}

fn status(client: &Client<Verify>) -> proto::Status {
    match call(client, &Request::Status) {
        Response::Status(s) => s,
        other => {
            check("status", false, &other);
            tileos_sys::domain::stop();
        }
    }
}

/// Entry `index`'s bytes, chunk by chunk.
fn entry(client: &Client<Verify>, index: u64) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    loop {
        match call(client, &Request::Entry { index, offset: bytes.len() as u32 }) {
            Response::EntryChunk { len, bytes: chunk } => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() >= len as usize || chunk.is_empty() {
                    return Some(bytes);
                }
            }
            _ => return None,
        }
    }
}

fn main(resources: Resources) -> ! {
    let client = Client::<Verify>::new(resources.verify);
    match resources.supervisor {
        Some(supervisor) => judge_role(&client, resources.verify, Client::new(supervisor)),
        None => {
            let refused = judge(&client, "1+1", None, &[("t1", "2")]);
            check("stranger-judge-refused", matches!(refused, Response::Refused(Error::NotPermitted { .. })), &refused);
            if let Response::Refused(Error::NotPermitted { badge }) = refused {
                log_event!("verifyhostile.stranger", badge = badge);
            }
            let audited = audit(&client, "t1", "arith", 2);
            check("stranger-audit-refused", matches!(audited, Response::Refused(Error::NotPermitted { badge }) if badge == 0x71), &audited);
            let read = standing(&client, "t1", "arith");
            check("stranger-reads-standing", matches!(&read, Response::Standing(s) if s.specialist == "t1"), &read);
            let challenged = challenge(&client, "t1", "t1b");
            check(
                "stranger-challenge-refused",
                matches!(challenged, Response::Refused(Error::NotPermitted { badge }) if badge == 0x71),
                &challenged,
            );
            let state = challenge_state(&client, "t1");
            check(
                "stranger-reads-challenge-state",
                matches!(&state, Response::Refused(Error::Challenge(t)) if t.contains("no challenge")),
                &state,
            );
            log_event!("verifyhostile.stranger-done");
            tileos_sys::domain::stop();
        }
    }
}

fn judge_role(client: &Client<Verify>, endpoint: tileos_sys::cap::Endpoint, supervisor: Client<Supervisor>) -> ! {
    let before = status(client);
    log_event!("verifyhostile.start", ledger = before.ledger_size, memory = before.memory_size);
    // Answers, judged and logged.
    let right = judge(client, "12+7", None, &[("t1", "19")]);
    check(
        "right-verified",
        matches!(&right, Response::Answered(a) if a.verdict == VerdictCode::VerifiedByChecker && a.index == before.ledger_size),
        &right,
    );
    let wrong = judge(client, "5 km in m", None, &[("t1", "500")]);
    check("wrong-refuted", matches!(&wrong, Response::Answered(a) if a.verdict == VerdictCode::Refuted), &wrong);
    let t3 = judge(client, "may we share the site plans?", None, &[("t3", "human review: security")]);
    check("t3-needs-human", matches!(&t3, Response::Answered(a) if a.verdict == VerdictCode::NeedsHuman && a.tier == 3), &t3);
    // The entry, checked by this client against the signed head.
    let index = before.ledger_size;
    let bytes = entry(client, index).unwrap_or_default();
    let proof = call(client, &Request::Proof { index: index + 2 });
    let logged = match (&proof, entry(client, index + 2)) {
        (Response::Proof(p), Some(b)) => {
            let mut signature = [0u8; 64];
            signature.copy_from_slice(&p.signature);
            let head =
                SignedTreeHead { head: TreeHead { tree_size: p.tree_size, timestamp_ms: p.timestamp_ms, root_hash: p.root }, signature };
            let proof = InclusionProof { leaf_index: p.index, tree_size: p.tree_size, path: p.path.to_vec() };
            verify_logged(&b, &proof, &head, &dev_keys::ledger_key().verifying_key()).map(|e| e.tier == Tier::T3).unwrap_or(false)
        }
        _ => false,
    };
    check("entry-checked-by-client", logged && !bytes.is_empty(), &proof);

    // Plane H: a signed write, retrieved and checked by this client.
    let contributor = dev_keys::contributor();
    let fragment = |seq, content: &str| Fragment {
        topic: "units".into(),
        tier: Tier::T1,
        contributor: contributor.verifying_key().to_bytes(),
        seq,
        content: content.as_bytes().to_vec(),
    };
    let seq = before.memory_size;
    let good = SignedWrite::sign(fragment(seq, "1 km = 1000 m"), &contributor).encode();
    let written = call(client, &Request::Write { bytes: heapless::Vec::from_slice(&good).unwrap_or_default() });
    check("write-accepted", matches!(&written, Response::Written { size, .. } if *size == seq + 1), &written);
    let fetched = call(
        client,
        &Request::Retrieve { topic: "units".try_into().unwrap_or_default(), term: "".try_into().unwrap_or_default(), nth: seq as u32 },
    );
    match &fetched {
        Response::Fragment(f) => {
            let item = Retrieved {
                id: f.id,
                leaf: f.leaf.to_vec(),
                proof: InclusionProof { leaf_index: f.leaf_index, tree_size: f.tree_size, path: f.path.to_vec() },
            };
            check("retrieved-proof-checks", verify_retrieved(&item, &f.root, f.tree_size).is_ok(), &fetched);
            let mut tampered = item.clone();
            let last = tampered.leaf.len() - 1;
            tampered.leaf[last] ^= 1;
            check("tampered-leaf-fails", verify_retrieved(&tampered, &f.root, f.tree_size).is_err(), &"tampered leaf passed");
            let mut tampered = item.clone();
            tampered.proof.leaf_index ^= 1;
            check("tampered-proof-fails", verify_retrieved(&tampered, &f.root, f.tree_size).is_err(), &"tampered proof passed");
        }
        other => check("retrieved-proof-checks", false, other),
    }
    let write_refused = |what, bytes: &[u8], word: &str| {
        let answer = call(client, &Request::Write { bytes: heapless::Vec::from_slice(bytes).unwrap_or_default() });
        check(what, matches!(&answer, Response::Refused(Error::Write(t)) if t.contains(word)), &answer);
    };
    write_refused("replayed-write", &good, "replayed");
    let forger = ed25519_key();
    write_refused("forged-write", &SignedWrite::sign(fragment(seq + 1, "1 km = 10 m"), &forger).encode(), "signature");
    let mut altered = SignedWrite::sign(fragment(seq + 1, "1 km = 1000 m"), &contributor).encode();
    let at = altered.len() - 70;
    altered[at] ^= 1;
    write_refused("altered-write", &altered, "signature");
    let mut other_topic = fragment(seq + 1, "rivers are wet");
    other_topic.topic = "text".into();
    write_refused("unauthorised-write", &SignedWrite::sign(other_topic, &contributor).encode(), "may not write");
    write_refused("malformed-write", &[1, 2, 3], "input ends");

    // Hostile queries and answers.
    let refused = |what, answer: Response, ok: fn(&Error) -> bool| {
        check(what, matches!(&answer, Response::Refused(e) if ok(e)), &answer);
    };
    refused(
        "unknown-topic",
        judge(client, "12+7", Some("astrology"), &[("t1", "19")]),
        |e| matches!(e, Error::Route(t) if t.contains("astrology")),
    );
    refused(
        "t2-panel-incomplete",
        judge(client, "describe a river", None, &[("t2", "the river is cold")]),
        |e| matches!(e, Error::Answers(t) if t.contains("gave no answer")),
    );
    refused("not-checkable", judge(client, "5 parsec in m", None, &[("t1", "1")]), |e| matches!(e, Error::NotCheckable(_)));
    refused("not-routed", judge(client, "12+7", None, &[("t3", "19")]), |e| matches!(e, Error::Answers(t) if t.contains("not routed")));
    refused("missing-answer", judge(client, "12+7", None, &[]), |e| matches!(e, Error::Answers(t) if t.contains("no answer")));
    refused(
        "answered-twice",
        judge(client, "12+7", None, &[("t1", "19"), ("t1", "19")]),
        |e| matches!(e, Error::Answers(t) if t.contains("twice")),
    );
    refused("empty-query", judge(client, "  ", None, &[("t1", "1")]), |e| matches!(e, Error::Route(_)));
    refused("no-entry", call(client, &Request::Entry { index: u64::MAX, offset: 0 }), |e| matches!(e, Error::NoEntry(u64::MAX)));
    refused("no-proof", call(client, &Request::Proof { index: 1 << 40 }), |e| matches!(e, Error::NoEntry(_)));
    refused("bad-offset", call(client, &Request::Entry { index, offset: 1 << 20 }), |e| matches!(e, Error::BadOffset { .. }));
    refused(
        "no-fragment",
        call(
            client,
            &Request::Retrieve { topic: "units".try_into().unwrap_or_default(), term: "parsec".try_into().unwrap_or_default(), nth: 0 },
        ),
        |e| matches!(e, Error::NoFragment),
    );
    refused("ask-without-inference", call(client, &Request::Ask { query: "12+7".try_into().unwrap_or_default(), topic: None }), |e| {
        matches!(e, Error::NoInference)
    });
    refused("accept-without-inference", call(client, &Request::Accept { adapter: "t1".try_into().unwrap_or_default() }), |e| {
        matches!(e, Error::NoInference)
    });
    // Raw messages.
    let cptr = endpoint.cptr();
    let error_of = |label, words: &[u64]| tileos_sys::rpc::raw_call_error(cptr, label, words);
    let unknown = error_of(0x7777, &[1, 2]);
    check("hostile-unknown-label", unknown == Some(ProtocolError::UnknownLabel), &unknown);
    let beyond = error_of(MESSAGE, &[10_000, 0, 0]);
    check("hostile-length-beyond-message", beyond == Some(ProtocolError::Truncated), &beyond);
    let negative = error_of(MESSAGE, &[u64::MAX, 0]);
    check("hostile-negative-length", negative == Some(ProtocolError::Truncated), &negative);
    let undecodable = error_of(MESSAGE, &[2, 0xC8C8]);
    check("hostile-undecodable", undecodable == Some(ProtocolError::Malformed), &undecodable);
    // An Ask whose query claims 300 bytes (the limit is 256): variant 0, length 300 (varint AC 02).
    let oversized = error_of(MESSAGE, &[12, 0x4141_4141_4102_AC00, 0x4141_4141_4141_4141]);
    check("hostile-oversized-query", oversized == Some(ProtocolError::Malformed), &oversized);
    // Plane B audits: each refused precisely before any canary is revealed.
    refused("audit-unknown-specialist", audit(client, "t9", "arith", 2), |e| matches!(e, Error::Audit(t) if t.contains("'t9'")));
    refused("audit-not-its-topic", audit(client, "t2", "arith", 2), |e| matches!(e, Error::Audit(t) if t.contains("does not serve")));
    refused("audit-zero-canaries", audit(client, "t1", "arith", 0), |e| matches!(e, Error::Audit(t) if t.contains("not 0")));
    refused("audit-nine-canaries", audit(client, "t1", "arith", 9), |e| matches!(e, Error::Audit(t) if t.contains("not 9")));
    refused("audit-without-inference", audit(client, "t1", "arith", 4), |e| matches!(e, Error::NoInference));
    refused("standing-unknown-specialist", standing(client, "t9", "arith"), |e| matches!(e, Error::Audit(t) if t.contains("'t9'")));
    // An Audit (variant 8) whose specialist claims 40 bytes (the limit is 32).
    let long_name = error_of(MESSAGE, &[10, 0x4141_4141_4141_2808, 0x4141]);
    check("hostile-audit-long-name", long_name == Some(ProtocolError::Malformed), &long_name);
    // Challenges: refused precisely (no inference domain, so nothing is accepted here).
    refused("challenge-unknown-slot", challenge(client, "t9", "t1b"), |e| matches!(e, Error::Challenge(t) if t.contains("'t9'")));
    refused(
        "challenge-class-c-slot",
        challenge(client, "t2", "t1b"),
        |e| matches!(e, Error::Challenge(t) if t.contains("no class-A checker")),
    );
    refused("challenge-not-accepted", challenge(client, "t1", "t1b"), |e| matches!(e, Error::NotAccepted { adapter } if adapter == "t1"));
    refused(
        "challenge-state-none",
        challenge_state(client, "t1"),
        |e| matches!(e, Error::Challenge(t) if t.contains("no challenge of slot 't1'")),
    );
    // A Challenge (variant 10) whose slot claims 40 bytes (the limit is 32).
    let long_slot = error_of(MESSAGE, &[10, 0x4141_4141_4141_280A, 0x4141]);
    check("hostile-challenge-long-name", long_slot == Some(ProtocolError::Malformed), &long_slot);
    let empty = standing(client, "t1", "arith");
    check(
        "standing-untouched",
        matches!(&empty, Response::Standing(s) if s.public_scored == 0 && s.secret_scored == 0 && s.reputation_ppm == 0 && s.audits == 0),
        &empty,
    );
    let after = status(client);
    check("nothing-logged-by-refusals", after.ledger_size == before.ledger_size + 3 && after.memory_size == seq + 1, &after);

    // Restart: every entry is read back from the store.
    let restarted = supervisor.call(&supervisor::Request::Restart { domain: "verify".try_into().unwrap_or_default() });
    check("restart-verify", matches!(restarted, Ok(supervisor::Response::Restarted { .. })), &restarted);
    let again = status(client);
    check("ledger-survives-restart", again.ledger_size == after.ledger_size && again.memory_root == after.memory_root, &again);
    check("entry-same-after-restart", entry(client, index) == Some(bytes), &index);
    let answer = judge(client, "49-3", None, &[("t1", "46")]);
    check(
        "serves-after-restart",
        matches!(&answer, Response::Answered(a) if a.index == after.ledger_size && a.verdict == VerdictCode::VerifiedByChecker),
        &answer,
    );
    refused("refused-after-restart", judge(client, "12+7", Some("astrology"), &[("t1", "19")]), |e| matches!(e, Error::Route(_)));
    refused("audit-refused-after-restart", audit(client, "t1", "units", 0), |e| matches!(e, Error::Audit(_)));
    refused("challenge-refused-after-restart", challenge(client, "t1", "t1b"), |e| matches!(e, Error::NotAccepted { .. }));
    log_event!("verifyhostile.done", ledger = status(client).ledger_size);
    tileos_sys::domain::stop();
}

/// A key nobody granted anything.
fn ed25519_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[0x5a; 32])
}
