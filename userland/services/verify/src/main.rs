//! The verify domain (docs/inference.md "The verify domain"): serves the verify protocol
//! (`tileos_protocol::verify`) on "verify" over `tileos_verify_service::desk::Desk` (the
//! dev tile's signed routing policy, Plane H, Plane B, the live gate and the ledger).
//!
//! Persistence, in its store namespace: ledger entry `i` (an answer or a challenge step)
//! under `verify/ledger/NNNNNNNN`,
//! knowledge write `i` under `verify/knowledge/NNNNNNNN`, and an accepted adapter's file
//! digest under `verify/accepted/NAME`, Plane B audit `i` under `verify/audit/NNNNNNNN`
//! (`tileos_verify_service::audit::AuditRecord`) and a slot's latest challenge under
//! `verify/challenge/SLOT`, each written durably before the answer leaves; at
//! start they are read back in order (a stored item that does not restore stops the
//! domain, naming the key). Without a store the domain serves reads but refuses to log,
//! write or accept (`StoreUnavailable`): nothing is acknowledged that a restart would lose.
//!
//! The ask path and audits need the inference endpoint (optional): each routed (or
//! audited) specialist's adapter must have been accepted, and the inference domain must
//! serve the accepted file. Audits are for badges whose description param `audit` is 1.
//! A T2 question goes to the routed class-C panel (every member's accepted adapter) and
//! through the class-C gate, weighted by the agreement history that class-C agreement
//! audits (`PanelAudit`, also `audit = 1`) measure on the class-C canaries.
//!
//! Adapters as slot challengers (docs/inference.md): a slot is an adapter name of the
//! policy; its questions are answered by the adapter serving it (the slot's own, or a
//! promoted challenger), whose accepted digest is `verify/accepted/SLOT`. While a challenge
//! runs, each live class-A question of the slot is also asked of the shadow adapter (never
//! answered, never logged as the answer); the checker's two verdicts move the challenge
//! (`tileos_verify_service::challenge`), persisted before the answer leaves; each step but a
//! tally is first a ledger entry of its own (`tileos_verify::ledger::ChallengeEntry`). Starting one is
//! for badges whose description param `challenge` is 1.
#![no_std]
#![no_main]
// The protocol's `Error` is the reply itself (texts of up to 120 bytes), made once per
// request; boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

extern crate alloc;
extern crate tileos_rt;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use sha2::{Digest, Sha256};
use tileos_protocol::inference::{self, Inference};
use tileos_protocol::store::{Durability, Error as StoreError};
use tileos_protocol::verify::{self as proto, Error, Request, Response, Verify};
use tileos_service_store::{ClientError, StoreClient};
use tileos_sys::rpc::Client;
use tileos_sys::{log, log_event};
use tileos_verify::Tier;
use tileos_verify::canary::Pool;
use tileos_verify::gate::Verdict;
use tileos_verify::knowledge::{Grant, WritePolicy};
use tileos_verify::ledger::{ChallengeEntry, ChallengeStep};
use tileos_verify_service::acceptance::{self, Rule};
use tileos_verify_service::audit::{AuditRecord, PanelCanary, PanelRecord};
use tileos_verify_service::challenge::{self, Challenge, Phase, Step};
use tileos_verify_service::desk::{Answered, Battery, Desk, DeskError, tile_canaries};
use tileos_verify_service::dev_keys;
use tileos_verify_service::provenance::{self, Claim, Mismatch};

tileos_sys::resources! {
    /// What the verify domain needs from the description.
    struct Resources {
        /// The verify protocol's endpoint.
        verify: ServedEndpoint("verify"),
        /// The inference domain (the ask path and acceptance).
        inference: ClientEndpoint("inference", optional),
        /// The store (ledger, knowledge, acceptances).
        store: ClientEndpoint("store", optional),
        /// The region shared with the store.
        buffer: Region("store-buffer", optional),
    }
}

tileos_sys::entry!(main);

const LEDGER_PREFIX: &str = "verify/ledger/";
const KNOWLEDGE_PREFIX: &str = "verify/knowledge/";
const ACCEPTED_PREFIX: &str = "verify/accepted/";
const AUDIT_PREFIX: &str = "verify/audit/";
const CHALLENGE_PREFIX: &str = "verify/challenge/";
const PANEL_PREFIX: &str = "verify/panel/";
/// Canary lifetime on this tile (Plane B's clock is the domain's ms).
const CANARY_EXPIRY: u64 = u64::MAX;
/// Bytes the model may generate per answer.
const MAX_NEW: u16 = inference::MAX_NEW_TOKENS as u16;
// A panel audit's record and its answer must fit the protocol's limits.
const _: () = assert!(
    proto::MAX_PANEL_AUDIT == tileos_verify_service::audit::MAX_PANEL_AUDIT
        && proto::MAX_PANEL == tileos_verify_service::audit::MAX_MEMBERS
);

fn now_ms() -> u64 {
    tileos_sys::timestamp() / tileos_sys::domain::info().tsc_per_ms.max(1)
}

fn key(prefix: &str, index: u64) -> heapless::String<48> {
    let mut k = heapless::String::new();
    let _ = write!(k, "{prefix}{index:08}");
    k
}

fn text(value: impl core::fmt::Display) -> proto::Text {
    let mut s = String::new();
    let _ = write!(s, "{value}");
    let mut t = proto::Text::new();
    for c in s.chars() {
        if t.push(c).is_err() {
            break;
        }
    }
    t
}

fn name(value: &str) -> proto::Name {
    proto::Name::try_from(value).unwrap_or_default()
}

/// The domain's state beside the desk.
struct Verifier {
    desk: Desk,
    store: Option<StoreClient>,
    inference: Option<Client<Inference>>,
    /// Accepted adapters and the SHA-256 of the file accepted; for a slot, the file of the
    /// adapter serving it.
    accepted: BTreeMap<String, [u8; 32]>,
    /// Each slot's latest challenge.
    challenges: BTreeMap<String, Challenge>,
    /// Time-stamp counter ticks of the last logged answer's steps: judging, persisting,
    /// appending (under `-icount`, guest instructions: `make bench`'s verify part).
    cost: [u64; 3],
}

fn main(resources: Resources) -> ! {
    let Some(signature) = dev_keys::tile_policy_signature() else {
        log!("verify: FAILED: services/router/policies/tile.policy.sig is not 128 hex digits");
        tileos_sys::domain::stop();
    };
    let writes = WritePolicy {
        grants: alloc::vec![Grant {
            contributor: dev_keys::contributor().verifying_key().to_bytes(),
            topics: alloc::vec!["arith".into(), "units".into()],
            tiers: alloc::vec![Tier::T1],
        }],
    };
    let desk = match Desk::new(
        dev_keys::TILE_POLICY.as_bytes(),
        &signature,
        &dev_keys::policy_signer().verifying_key(),
        writes,
        dev_keys::ledger_key(),
        tile_canaries(CANARY_EXPIRY),
    ) {
        Ok(desk) => desk,
        Err(error) => {
            log!("verify: FAILED: the routing policy services/router/policies/tile.policy is refused: {error}");
            tileos_sys::domain::stop();
        }
    };
    let store = resources.store.zip(resources.buffer).map(|(endpoint, buffer)| StoreClient::new(endpoint, buffer));
    let mut v = Verifier {
        desk,
        store,
        inference: resources.inference.map(Client::new),
        accepted: BTreeMap::new(),
        challenges: BTreeMap::new(),
        cost: [0; 3],
    };
    if v.store.is_none() {
        log!("verify: no store capability: reads only; asks, writes and acceptances are refused");
    }
    v.restore();
    log_event!(
        "verify.ready",
        generation = tileos_sys::domain::info().generation,
        ledger = v.desk.ledger_size(),
        memory = v.desk.knowledge_head().tree_size,
        accepted = v.accepted.len(),
        audits = v.desk.audits(),
        panel_audits = v.desk.panel_audits(),
        challenges = v.challenges.len()
    );
    tileos_sys::rpc::serve::<Verify>(resources.verify, |badge, request| {
        let started = tileos_sys::timestamp();
        let response = v.serve(badge, request);
        match &response {
            Response::Refused(error) => log_event!("verify.refused", badge = badge, error = Word(error)),
            Response::Audited(a) => log_event!(
                "verify.audited",
                index = a.index,
                specialist = a.standing.specialist.as_str(),
                topic = a.standing.topic.as_str(),
                pool = Word(&a.pool),
                asked = a.canaries.len(),
                passed = a.canaries.iter().filter(|c| c.passed).count(),
                overfit = a.overfit.is_some()
            ),
            Response::PanelAudited(p) => log_event!(
                "verify.panel-audited",
                index = p.index,
                members = p.specialists.len(),
                canaries = p.canaries.len(),
                first_id = p.canaries.first().map_or(0, |c| c.id)
            ),
            Response::Answered(a) => log_event!(
                "verify.answered",
                index = a.index,
                topic = a.topic.as_str(),
                verdict = Word(&a.verdict),
                effective_voters_ppm = a.consensus.map_or(0, |c| c.effective_voters_ppm),
                judge_ticks = v.cost[0],
                persist_ticks = v.cost[1],
                commit_ticks = v.cost[2],
                total_ticks = tileos_sys::timestamp().saturating_sub(started)
            ),
            _ => {}
        }
        Ok(response)
    })
}

/// Runs `operation` until it succeeds or fails for good; a restarting store is retried
/// for 3 s.
fn retrying<T>(mut operation: impl FnMut() -> Result<T, ClientError>) -> Result<T, ClientError> {
    let started = now_ms();
    loop {
        match operation() {
            Err(error) if error.is_retryable() && now_ms().saturating_sub(started) < 3000 => tileos_sys::yield_now(),
            result => return result,
        }
    }
}

impl Verifier {
    /// Reads back the ledger, the knowledge, the audits and the acceptances.
    fn restore(&mut self) {
        let Some(store) = &self.store else { return };
        for prefix in [LEDGER_PREFIX, KNOWLEDGE_PREFIX, AUDIT_PREFIX, PANEL_PREFIX] {
            for index in 0.. {
                let k = key(prefix, index);
                let bytes = match retrying(|| store.get(k.as_bytes())) {
                    Ok(bytes) => bytes,
                    Err(ClientError::Store(StoreError::NotFound)) => break,
                    Err(error) => {
                        log!("verify: FAILED: reading {k} from the store: {error:?}");
                        tileos_sys::domain::stop();
                    }
                };
                let restored = match prefix {
                    LEDGER_PREFIX => self.desk.restore_entry(&bytes).map(|_| ()),
                    KNOWLEDGE_PREFIX => self.desk.restore_write(&bytes).map(|_| ()),
                    PANEL_PREFIX => self.desk.restore_panel_audit(&bytes).map(|_| ()),
                    _ => self.desk.restore_audit(&bytes).map(|_| ()),
                };
                if let Err(error) = restored {
                    log!("verify: FAILED: the stored {k} does not restore: {error}");
                    tileos_sys::domain::stop();
                }
            }
        }
        let mut names: Vec<Vec<u8>> = Vec::new();
        if let Err(error) = retrying(|| {
            names.clear();
            store.list(ACCEPTED_PREFIX.as_bytes(), |k| names.push(k.to_vec()))
        }) {
            log!("verify: FAILED: listing {ACCEPTED_PREFIX} in the store: {error:?}");
            tileos_sys::domain::stop();
        }
        for k in names {
            match retrying(|| store.get(&k)) {
                Ok(digest) if digest.len() == 32 => {
                    let adapter = String::from_utf8_lossy(&k[ACCEPTED_PREFIX.len()..]).into_owned();
                    let mut d = [0u8; 32];
                    d.copy_from_slice(&digest);
                    self.accepted.insert(adapter, d);
                }
                other => {
                    log!("verify: FAILED: the stored acceptance {:?} is unreadable: {other:?}", String::from_utf8_lossy(&k));
                    tileos_sys::domain::stop();
                }
            }
        }
        let mut names: Vec<Vec<u8>> = Vec::new();
        if let Err(error) = retrying(|| {
            names.clear();
            store.list(CHALLENGE_PREFIX.as_bytes(), |k| names.push(k.to_vec()))
        }) {
            log!("verify: FAILED: listing {CHALLENGE_PREFIX} in the store: {error:?}");
            tileos_sys::domain::stop();
        }
        for k in names {
            let slot = String::from_utf8_lossy(&k[CHALLENGE_PREFIX.len()..]).into_owned();
            let restored = retrying(|| store.get(&k))
                .map_err(|error| alloc::format!("{error:?}"))
                .and_then(|bytes| Challenge::decode(&bytes, &challenge::Rule::default()).map_err(|e| alloc::format!("{e}")))
                .and_then(|c| if c.slot == slot { Ok(c) } else { Err(alloc::format!("a record of slot {}", c.slot)) });
            match restored {
                // The record is written before `verify/accepted/SLOT` changes, so it says
                // which file serves the slot while it runs or a challenger serves, and when
                // the key still holds the challenger's digest (a rollback whose key write
                // failed). Otherwise the key is newer: the slot's own file, accepted again
                // after the challenge ended.
                Ok(c) => {
                    let own = !c.phase.running() && c.serving().name == slot;
                    if !own || self.accepted.get(&slot) == Some(&c.challenger.digest) {
                        self.accepted.insert(slot.clone(), c.serving().digest);
                    }
                    self.challenges.insert(slot, c);
                }
                Err(error) => {
                    log!("verify: FAILED: the stored challenge {:?} does not restore: {error}", String::from_utf8_lossy(&k));
                    tileos_sys::domain::stop();
                }
            }
        }
    }

    /// The adapter answering `slot`'s questions: a promoted challenger, else the slot's own.
    fn serving(&self, slot: &str) -> String {
        self.challenges.get(slot).map(|c| c.serving().name.clone()).unwrap_or_else(|| slot.into())
    }

    /// Puts `bytes` under `k` durably.
    fn persist(&self, k: &[u8], bytes: &[u8]) -> Result<(), Error> {
        let Some(store) = &self.store else { return Err(Error::StoreUnavailable) };
        retrying(|| store.put(k, bytes, Durability::Durable)).map_err(|error| {
            log!("verify: writing {:?} ({} bytes) to the store failed: {error:?}", String::from_utf8_lossy(k), bytes.len());
            Error::StoreUnavailable
        })
    }

    fn serve(&mut self, badge: u64, request: Request) -> Response {
        let result = match request {
            Request::Ask { query, topic } => self.ask(&query, topic.as_deref()),
            Request::Judge { query, topic, answers } => {
                if tileos_sys::domain::param("verify", badge, "judge") != Some(1) {
                    Err(Error::NotPermitted { badge })
                } else {
                    let given: Vec<Answered<'_>> =
                        answers.iter().map(|a| Answered { specialist: a.specialist.as_str(), answer: a.answer.as_str() }).collect();
                    self.route(&query, topic.as_deref()).and_then(|(req, r)| self.log(&req, &r, &given, None))
                }
            }
            Request::Accept { adapter } => self.accept(&adapter),
            Request::Write { bytes } => self.write(&bytes),
            Request::Retrieve { topic, term, nth } => self.retrieve(&topic, &term, nth),
            Request::Entry { index, offset } => self.entry(index, offset),
            Request::Proof { index } => self.proof(index),
            Request::Status => Ok(self.status()),
            Request::Audit { specialist, topic, pool, count } => {
                if tileos_sys::domain::param("verify", badge, "audit") != Some(1) {
                    Err(Error::NotPermitted { badge })
                } else {
                    self.audit(&specialist, &topic, pool, count)
                }
            }
            Request::Standing { specialist, topic } => self.standing(&specialist, &topic).map(Response::Standing),
            Request::PanelAudit { topic, specialists, count } => {
                if tileos_sys::domain::param("verify", badge, "audit") != Some(1) {
                    Err(Error::NotPermitted { badge })
                } else {
                    let names: Vec<String> = specialists.iter().map(|s| String::from(s.as_str())).collect();
                    self.panel_audit(&topic, &names, count)
                }
            }
            Request::Challenge { slot, challenger } => {
                if tileos_sys::domain::param("verify", badge, "challenge") != Some(1) {
                    Err(Error::NotPermitted { badge })
                } else {
                    self.challenge(&slot, &challenger)
                }
            }
            Request::ChallengeState { slot } => self
                .challenges
                .get(slot.as_str())
                .map(|c| Response::Challenge(challenge_state(c)))
                .ok_or_else(|| Error::Challenge(text(format_args!("no challenge of slot '{slot}'")))),
        };
        result.unwrap_or_else(Response::Refused)
    }

    fn route(&self, query: &str, topic: Option<&str>) -> Result<(tileos_router::Request, tileos_router::Route), Error> {
        self.desk.route(query, topic).map_err(desk_error)
    }

    /// The ask path: route, infer with each routed specialist's accepted adapter, judge, log.
    /// A T3 question needs a human: no model is asked (an answer would be passed on as if it
    /// meant something, and no T3 adapter can pass the class-A battery), so the entry logs
    /// the route with no answer and the verdict `NeedsHuman`.
    fn ask(&mut self, query: &str, topic: Option<&str>) -> Result<Response, Error> {
        let (req, r) = self.route(query, topic)?;
        if r.tier == Tier::T3 {
            let names: Vec<String> = r.specialists.iter().map(|&i| self.desk.policy().specialists[i].name.clone()).collect();
            let given: Vec<Answered<'_>> = names.iter().map(|n| Answered { specialist: n, answer: "" }).collect();
            return self.log(&req, &r, &given, None);
        }
        let mut answers: Vec<(String, String)> = Vec::new();
        for &i in &r.specialists {
            let s = &self.desk.policy().specialists[i];
            // An adapter never accepted is refused before the inference domain works.
            if self.inference.is_none() {
                return Err(Error::NoInference);
            }
            if !self.accepted.contains_key(s.adapter.as_str()) {
                return Err(Error::NotAccepted { adapter: name(&s.adapter) });
            }
            let serving = self.serving(&s.adapter);
            let (answer, digest) = self.generate(&serving, query)?;
            if self.accepted.get(s.adapter.as_str()) != Some(&digest) {
                return Err(Error::NotAccepted { adapter: name(&serving) });
            }
            answers.push((s.name.clone(), answer));
        }
        // The judged (first) specialist's slot, if a challenge of it runs: its shadow
        // answers too, unseen. A shadow the inference domain refuses, or that no longer
        // serves the challenged file, is skipped (logged), never fatal to the answer.
        let slot = r.specialists.first().map(|&i| self.desk.policy().specialists[i].adapter.clone()).unwrap_or_default();
        let mut shadowed = None;
        let shadow = self.challenges.get(&slot).and_then(|c| c.shadow()).filter(|_| r.class == tileos_router::Class::A).cloned();
        if let Some(shadow) = shadow {
            match self.generate(&shadow.name, query) {
                Ok((answer, digest)) if digest == shadow.digest => shadowed = Some((slot, answer)),
                Ok(_) => log_event!("verify.shadow-skipped", slot = slot.as_str(), adapter = shadow.name.as_str(), reason = "FileChanged"),
                Err(error) => {
                    log_event!("verify.shadow-skipped", slot = slot.as_str(), adapter = shadow.name.as_str(), reason = Word(&error))
                }
            }
        }
        let given: Vec<Answered<'_>> = answers.iter().map(|(s, a)| Answered { specialist: s, answer: a }).collect();
        self.log(&req, &r, &given, shadowed)
    }

    /// Moves `slot`'s challenge by one live question (the served answer's verdict and the
    /// shadow's answer), persisting the next state before it applies it; on a promotion
    /// or a rollback, `verify/accepted/SLOT` then holds the serving file's digest. A state
    /// that cannot be persisted is not applied (the question is not counted; logged).
    fn observe(&mut self, slot: &str, query: &str, verdict: &Verdict, shadow_answer: &str, ledger_next: u64) {
        let Some(current) = self.challenges.get(slot) else { return };
        let serving_passed = matches!(verdict, Verdict::VerifiedByChecker);
        let Ok(shadow_passed) = self.desk.passes(query, shadow_answer) else { return };
        let Some((next, step)) = current.observe(serving_passed, shadow_passed, ledger_next, &challenge::Rule::default()) else {
            return;
        };
        // A decision is logged in the ledger (durably) before the record, and both before
        // the step is applied; a crash between them leaves the ledger ahead (see
        // `log_step`).
        let saved = match step.logged() {
            Some(logged) => self.log_step(&next.ledger_entry(logged)).map(|_| ()),
            None => Ok(()),
        }
        .and_then(|()| self.persist(challenge_key(slot).as_bytes(), &next.encode()));
        if let Err(error) = saved {
            log_event!("verify.challenge-unsaved", slot = slot, error = Word(&error));
            return;
        }
        let serving = next.serving().clone();
        log_event!(
            "verify.challenge",
            slot = slot,
            step = Word(&step),
            serving = serving.name.as_str(),
            shadow_passed = shadow_passed,
            serving_passed = serving_passed,
            incumbent = Tallied(&next.shadow[0]),
            challenger = Tallied(&next.shadow[1]),
            promoted = Tallied(&next.window[0]),
            old = Tallied(&next.window[1])
        );
        self.challenges.insert(slot.into(), next);
        if matches!(step, Step::Promoted | Step::RolledBack) {
            let mut k: heapless::String<64> = heapless::String::new();
            let _ = write!(k, "{ACCEPTED_PREFIX}{slot}");
            // The challenge record already says which file serves; this key follows it.
            let _ = self.persist(k.as_bytes(), &serving.digest);
            self.accepted.insert(slot.into(), serving.digest);
        }
    }

    /// Starts a challenge of `slot`'s serving adapter by the accepted `challenger`;
    /// persisted before it is answered.
    fn challenge(&mut self, slot: &str, challenger: &str) -> Result<Response, Error> {
        self.desk.challengeable(slot).map_err(|e| Error::Challenge(text(e)))?;
        let Some(&serving_digest) = self.accepted.get(slot) else {
            return Err(Error::NotAccepted { adapter: name(slot) });
        };
        let Some(&challenger_digest) = self.accepted.get(challenger) else {
            return Err(Error::NotAccepted { adapter: name(challenger) });
        };
        let serving = challenge::Adapter { name: self.serving(slot), digest: serving_digest };
        let started = Challenge::start(
            slot,
            serving,
            challenge::Adapter { name: challenger.into(), digest: challenger_digest },
            self.challenges.get(slot),
            self.desk.ledger_size(),
        )
        .map_err(|e| Error::Challenge(text(e)))?;
        // Its `started_at` is the index the Started entry gets.
        self.log_step(&started.ledger_entry(ChallengeStep::Started))?;
        self.persist(challenge_key(slot).as_bytes(), &started.encode())?;
        log_event!(
            "verify.challenge",
            slot = slot,
            step = "Started",
            serving = started.incumbent.name.as_str(),
            challenger = challenger,
            ledger = started.started_at
        );
        let state = challenge_state(&started);
        self.challenges.insert(slot.into(), started);
        Ok(Response::Challenge(state))
    }

    /// Appends a challenge step to the ledger, durably first (`verify/ledger/NNNNNNNN`);
    /// returns its index. It precedes the record of the state it leads to: after a crash
    /// between the two, the restart restores the entry (the ledger is ahead) and the older
    /// record, so the step is not applied; the next live question decides again and logs
    /// a new entry. A step counts as applied only where a record's ledger mark
    /// (`started_at`, `decided_at`, `ended_at`) is its index.
    fn log_step(&mut self, entry: &ChallengeEntry) -> Result<u64, Error> {
        let bytes = entry.encode().map_err(|e| Error::Gate(text(e)))?;
        self.persist(key(LEDGER_PREFIX, self.desk.ledger_size()).as_bytes(), &bytes)?;
        self.desk.commit_step(entry).map_err(desk_error)
    }

    /// One answer of the inference domain with `adapter`, and the adapter file's digest.
    fn generate(&self, adapter: &str, prompt: &str) -> Result<(String, [u8; 32]), Error> {
        let Some(inference) = &self.inference else { return Err(Error::NoInference) };
        let request = inference::Request::Generate {
            adapter: Some(inference::AdapterName::try_from(adapter).map_err(|_| Error::NotAccepted { adapter: name(adapter) })?),
            prompt: inference::Prompt::from_slice(prompt.as_bytes()).map_err(|_| Error::Inference(text("prompt longer than the wire")))?,
            max_new: MAX_NEW,
        };
        match inference.call(&request) {
            Ok(inference::Response::Generated(g)) => match g.adapter_sha256 {
                Some(digest) => {
                    self.check_claim(adapter, g.adapter_claim.as_ref())?;
                    Ok((String::from_utf8_lossy(&g.text).into_owned(), digest))
                }
                None => Err(Error::Inference(text("answered without the adapter asked for"))),
            },
            Ok(inference::Response::Refused(error)) => Err(Error::Inference(text(DebugText(&error)))),
            Ok(other) => Err(Error::Inference(text(DebugText(&other)))),
            Err(error) => Err(Error::Inference(text(DebugText(&error)))),
        }
    }

    /// Compares the manifest claim of `adapter`, as the inference domain passed it on with
    /// an answer, with every policy specialist the adapter serves
    /// (`tileos_verify_service::provenance`); a mismatch is logged and refused by name, so
    /// the answer is never used (an acceptance ends refused, a question unanswered).
    fn check_claim(&self, adapter: &str, claim: Option<&inference::AdapterClaim>) -> Result<(), Error> {
        let claim = claim.map_or(Claim { lineage: "", provenance: "" }, |c| Claim { lineage: &c.lineage, provenance: &c.provenance });
        let Err(mismatch) = provenance::check(self.desk.policy(), adapter, claim) else { return Ok(()) };
        log!("verify: adapter {adapter} refused: {mismatch}");
        let (specialist, field, policy, manifest) = match &mismatch {
            Mismatch::LineageMismatch { specialist, policy, manifest } => (specialist, "lineage", policy, manifest.as_str()),
            Mismatch::ProvenanceMismatch { specialist, policy, manifest } => (specialist, "provenance", policy, manifest.as_str()),
            Mismatch::ProvenanceMissing { specialist, policy } => (specialist, "provenance", policy, "(none)"),
            Mismatch::ProvenanceAmbiguous { specialist, policy } => (specialist, "provenance", policy, "(several)"),
        };
        log_event!("verify.provenance-mismatch", adapter = adapter, specialist = specialist.as_str(), field = field);
        Err(Error::ProvenanceMismatch { specialist: name(specialist), field: name(field), policy: name(policy), manifest: text(manifest) })
    }

    /// Judges, persists, then logs; then moves the challenge of the slot a shadow answered
    /// for (`shadowed`: the slot and the shadow's answer).
    fn log(
        &mut self,
        req: &tileos_router::Request,
        r: &tileos_router::Route,
        given: &[Answered<'_>],
        shadowed: Option<(String, String)>,
    ) -> Result<Response, Error> {
        let t0 = tileos_sys::timestamp();
        let judged = self.desk.judge(req, r, given, self.desk.audit_clock(now_ms()) as f64).map_err(desk_error)?;
        let t1 = tileos_sys::timestamp();
        self.persist(key(LEDGER_PREFIX, judged.index).as_bytes(), &judged.bytes)?;
        let t2 = tileos_sys::timestamp();
        let index = self.desk.commit(&judged).map_err(desk_error)?;
        self.cost = [t1 - t0, t2 - t1, tileos_sys::timestamp() - t2];
        if let Some((slot, shadow_answer)) = shadowed {
            self.observe(&slot, &req.query, &judged.verdict, &shadow_answer, index + 1);
        }
        let policy = self.desk.policy();
        let head = self.desk.knowledge_head();
        Ok(Response::Answered(proto::Answered {
            answer: proto::Answer::try_from(judged.answer.as_str()).unwrap_or_default(),
            topic: name(&policy.topics[r.topic].name),
            tier: r.tier.code(),
            specialists: r.specialists.iter().map(|&i| name(&policy.specialists[i].name)).collect(),
            verdict: code(&judged.verdict),
            verdict_text: text(judged.verdict),
            index,
            entry_sha256: Sha256::digest(&judged.bytes).into(),
            ledger_size: self.desk.ledger_size(),
            policy: policy.digest,
            memory_root: head.root_hash,
            memory_size: head.tree_size,
            panel: judged
                .panel
                .iter()
                .map(|p| proto::Vote { answer: proto::Answer::try_from(p.answer.as_str()).unwrap_or_default(), weight_ppm: ppm(p.weight) })
                .collect(),
            pairs: judged
                .evidence
                .iter()
                .map(|e| proto::PairEvidence {
                    a: e.a as u8,
                    b: e.b as u8,
                    informative: e.informative,
                    dependent: e.dependent,
                    dependence_ppm: ppm(e.dependence),
                })
                .collect(),
            consensus: match judged.verdict {
                Verdict::VerifiedByConsensus { effective_voters, share } => {
                    Some(proto::Consensus { effective_voters_ppm: ppm(effective_voters), share_ppm: ppm(share) })
                }
                Verdict::Correlated { effective_voters } => {
                    Some(proto::Consensus { effective_voters_ppm: ppm(effective_voters), share_ppm: 0 })
                }
                Verdict::NoQuorum { share } => Some(proto::Consensus { effective_voters_ppm: 0, share_ppm: ppm(share) }),
                _ => None,
            },
        }))
    }

    /// A class-C agreement audit: plan the draw (nothing revealed), ask every member's
    /// accepted adapter each canary's question, check the record, persist it, apply it.
    fn panel_audit(&mut self, topic: &str, specialists: &[String], count: u8) -> Result<Response, Error> {
        let time = self.desk.panel_clock(now_ms());
        let mut seed_input = Sha256::new();
        seed_input.update(b"tileos verify panel audit seed");
        seed_input.update(self.desk.panel_audits().to_be_bytes());
        seed_input.update(tileos_sys::timestamp().to_be_bytes());
        let seed: [u8; 32] = seed_input.finalize().into();
        let planned = self.desk.plan_panel_audit(topic, specialists, usize::from(count), time, &seed).map_err(desk_error)?;
        if self.inference.is_none() {
            return Err(Error::NoInference);
        }
        let mut adapters = Vec::with_capacity(specialists.len());
        for s in specialists {
            let slot = self.desk.policy().specialists.iter().find(|p| p.name == *s).map(|p| p.adapter.clone()).unwrap_or_default();
            let Some(&accepted) = self.accepted.get(slot.as_str()) else {
                return Err(Error::NotAccepted { adapter: name(&slot) });
            };
            adapters.push((self.serving(&slot), accepted));
        }
        let mut canaries = Vec::with_capacity(planned.len());
        for (id, question) in &planned {
            let mut answers = Vec::with_capacity(adapters.len());
            for (adapter, accepted) in &adapters {
                let (answer, digest) = self.generate(adapter, question)?;
                if digest != *accepted {
                    return Err(Error::NotAccepted { adapter: name(adapter) });
                }
                answers.push(answer);
            }
            canaries.push(PanelCanary { id: *id, answers });
        }
        let record = PanelRecord { time, topic: topic.into(), seed, specialists: specialists.to_vec(), canaries };
        self.desk.check_panel_audit(&record).map_err(desk_error)?;
        self.persist(key(PANEL_PREFIX, self.desk.panel_audits()).as_bytes(), &record.encode())?;
        let index = self.desk.apply_panel_audit(&record).map_err(desk_error)?;
        let mut pairs = heapless::Vec::new();
        for (a, x) in specialists.iter().enumerate() {
            for (b, y) in specialists.iter().enumerate().skip(a + 1) {
                let (informative, dependent, dependence) = self.desk.agreement(x, y).map_err(desk_error)?;
                let _ = pairs.push(proto::PairEvidence { a: a as u8, b: b as u8, informative, dependent, dependence_ppm: ppm(dependence) });
            }
        }
        Ok(Response::PanelAudited(proto::PanelAudited {
            index,
            specialists: specialists.iter().map(|s| name(s)).collect(),
            canaries: planned
                .iter()
                .zip(&record.canaries)
                .map(|((id, question), c)| proto::PanelCanary {
                    id: *id,
                    question: proto::Question::try_from(question.as_str()).unwrap_or_default(),
                    answers: c.answers.iter().map(|a| proto::Answer::try_from(a.as_str()).unwrap_or_default()).collect(),
                })
                .collect(),
            pairs,
        }))
    }

    /// Adapter acceptance through the inference domain; persisted before it is answered.
    fn accept(&mut self, adapter: &str) -> Result<Response, Error> {
        if self.inference.is_none() {
            return Err(Error::NoInference);
        }
        // A slot served by a challenger, or challenged now: its accepted digest is the
        // challenge's, and accepting the slot's own file again would replace it.
        if let Some(c) = self.challenges.get(adapter).filter(|c| c.phase.running() || c.serving().name != adapter) {
            return Err(Error::Challenge(text(format_args!("slot '{adapter}' is served by '{}' ({:?})", c.serving().name, c.phase))));
        }
        let battery = self.desk.battery(adapter);
        let mut digest = None;
        let mut failure = None;
        let model = |q: &str| match self.generate(adapter, q) {
            Ok((answer, d)) if digest.is_none_or(|seen| seen == d) => {
                digest = Some(d);
                Ok(answer)
            }
            Ok(_) => Err("the adapter file changed during acceptance"),
            Err(error) => {
                failure = Some(error);
                Err("the inference domain refused")
            }
        };
        let outcome = match &battery {
            Battery::ClassA(tasks) => acceptance::accept(model, tasks, &Rule::default()),
            Battery::ClassC(questions) => acceptance::accept_open(model, questions, &Rule::default()),
        };
        match (outcome, digest) {
            (Ok(accepted), Some(digest)) => {
                let mut k: heapless::String<64> = heapless::String::new();
                let _ = write!(k, "{ACCEPTED_PREFIX}{adapter}");
                self.persist(k.as_bytes(), &digest)?;
                self.accepted.insert(adapter.into(), digest);
                log_event!(
                    "verify.accepted",
                    adapter = adapter,
                    class = if matches!(battery, Battery::ClassC(_)) { "C" } else { "A" },
                    passed = accepted.passed,
                    asked = accepted.asked,
                    probes = accepted.probes
                );
                Ok(Response::Accepted(proto::Acceptance {
                    adapter: name(adapter),
                    adapter_sha256: digest,
                    passed: accepted.passed as u32,
                    asked: accepted.asked as u32,
                    probes: accepted.probes as u32,
                    class_c: matches!(battery, Battery::ClassC(_)),
                }))
            }
            (Ok(_), None) => Err(Error::Rejected(text("no battery question was answered"))),
            (Err(rejection), _) => {
                if let Some(error) = failure {
                    return Err(error);
                }
                self.accepted.remove(adapter);
                log!("verify: adapter {adapter} rejected: {rejection}");
                log_event!("verify.rejected", adapter = adapter, reason = Word(&rejection));
                Err(Error::Rejected(text(rejection)))
            }
        }
    }

    /// A Plane B audit: plan the draw (nothing revealed), ask the specialist's accepted
    /// adapter each canary's question, check the record, persist it, apply it.
    fn audit(&mut self, node: &str, topic: &str, pool: proto::AuditPool, count: u8) -> Result<Response, Error> {
        let pool = match pool {
            proto::AuditPool::Public => Pool::Public,
            proto::AuditPool::Secret => Pool::Secret,
        };
        let time = self.desk.audit_clock(now_ms());
        let mut seed_input = Sha256::new();
        seed_input.update(b"tileos verify audit seed");
        seed_input.update(self.desk.audits().to_be_bytes());
        seed_input.update(tileos_sys::timestamp().to_be_bytes());
        let seed: [u8; 32] = seed_input.finalize().into();
        let planned = self.desk.plan_audit(node, topic, pool, usize::from(count), time, &seed).map_err(desk_error)?;
        if self.inference.is_none() {
            return Err(Error::NoInference);
        }
        let slot = self.desk.policy().specialists.iter().find(|s| s.name == node).map(|s| s.adapter.clone()).unwrap_or_default();
        let Some(&accepted) = self.accepted.get(slot.as_str()) else {
            return Err(Error::NotAccepted { adapter: name(&slot) });
        };
        let adapter = self.serving(&slot);
        let mut answers = Vec::with_capacity(planned.len());
        for (id, question) in &planned {
            let (answer, digest) = self.generate(&adapter, question)?;
            if digest != accepted {
                return Err(Error::NotAccepted { adapter: name(&adapter) });
            }
            answers.push((*id, answer));
        }
        let record = AuditRecord { time, node: node.into(), topic: topic.into(), pool, seed, answers };
        self.desk.check_audit(&record).map_err(desk_error)?;
        self.persist(key(AUDIT_PREFIX, self.desk.audits()).as_bytes(), &record.encode())?;
        let outcome = self.desk.apply_audit(&record).map_err(desk_error)?;
        let canaries = planned
            .iter()
            .zip(&record.answers)
            .zip(&outcome.scores)
            .map(|(((id, question), (_, answer)), score)| proto::AuditedCanary {
                id: *id,
                question: proto::Question::try_from(question.as_str()).unwrap_or_default(),
                answer: proto::Answer::try_from(answer.as_str()).unwrap_or_default(),
                passed: score.passed,
            })
            .collect();
        Ok(Response::Audited(proto::Audited {
            index: outcome.index,
            pool: if pool == Pool::Public { proto::AuditPool::Public } else { proto::AuditPool::Secret },
            canaries,
            overfit: outcome.overfit.map(|f| proto::Overfit { public_ppm: ppm(f.public_rate), secret_ppm: ppm(f.secret_rate) }),
            standing: self.standing(node, topic)?,
        }))
    }

    fn standing(&self, node: &str, topic: &str) -> Result<proto::Standing, Error> {
        let s = self.desk.standing(node, topic, self.desk.audit_clock(now_ms())).map_err(desk_error)?;
        Ok(proto::Standing {
            specialist: name(node),
            topic: name(topic),
            reputation_ppm: ppm(s.reputation),
            public_scored: s.tallies.public_scored,
            public_passed: s.tallies.public_passed,
            secret_scored: s.tallies.secret_scored,
            secret_passed: s.tallies.secret_passed,
            overfits: s.tallies.overfits,
            audits: self.desk.audits(),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<Response, Error> {
        let write = self.desk.check_write(bytes).map_err(desk_error)?;
        let index = self.desk.knowledge_head().tree_size;
        self.persist(key(KNOWLEDGE_PREFIX, index).as_bytes(), bytes)?;
        let id = self.desk.commit_write(&write).map_err(desk_error)?;
        let head = self.desk.knowledge_head();
        Ok(Response::Written { id, size: head.tree_size, root: head.root_hash })
    }

    fn retrieve(&self, topic: &str, term: &str, nth: u32) -> Result<Response, Error> {
        let item = self.desk.retrieve(topic, term, nth as usize).ok_or(Error::NoFragment)?;
        let head = self.desk.knowledge_head();
        Ok(Response::Fragment(proto::Fragment {
            id: item.id,
            leaf: heapless::Vec::from_slice(&item.leaf).map_err(|_| Error::NoFragment)?,
            leaf_index: item.proof.leaf_index,
            tree_size: item.proof.tree_size,
            root: head.root_hash,
            path: heapless::Vec::from_slice(&item.proof.path).map_err(|_| Error::NoFragment)?,
        }))
    }

    fn entry(&self, index: u64, offset: u32) -> Result<Response, Error> {
        let bytes = self.desk.entry(index).map_err(|_| Error::NoEntry(index))?;
        let len = bytes.len() as u32;
        let start = offset as usize;
        if start > bytes.len() {
            return Err(Error::BadOffset { len });
        }
        let end = bytes.len().min(start + proto::ENTRY_CHUNK);
        Ok(Response::EntryChunk { len, bytes: heapless::Vec::from_slice(&bytes[start..end]).unwrap_or_default() })
    }

    fn proof(&self, index: u64) -> Result<Response, Error> {
        let (proof, head) = self.desk.prove(index, now_ms()).map_err(|_| Error::NoEntry(index))?;
        Ok(Response::Proof(proto::LedgerProof {
            index,
            tree_size: head.head.tree_size,
            timestamp_ms: head.head.timestamp_ms,
            root: head.head.root_hash,
            signature: heapless::Vec::from_slice(&head.signature).unwrap_or_default(),
            path: heapless::Vec::from_slice(&proof.path).map_err(|_| Error::NoEntry(index))?,
        }))
    }

    fn status(&self) -> Response {
        let head = self.desk.knowledge_head();
        Response::Status(proto::Status {
            policy: self.desk.policy().digest,
            policy_version: self.desk.policy().version,
            ledger_size: self.desk.ledger_size(),
            memory_size: head.tree_size,
            memory_root: head.root_hash,
            accepted: self.accepted.keys().take(8).map(|a| name(a)).collect(),
            inference: self.inference.is_some(),
            persistent: self.store.is_some(),
        })
    }
}

fn challenge_key(slot: &str) -> heapless::String<64> {
    let mut k = heapless::String::new();
    let _ = write!(k, "{CHALLENGE_PREFIX}{slot}");
    k
}

/// A challenge as the protocol carries it.
fn challenge_state(c: &Challenge) -> proto::ChallengeState {
    let tally = |t: &challenge::Tally| proto::LiveTally { asked: t.asked, passed: t.passed };
    proto::ChallengeState {
        slot: name(&c.slot),
        incumbent: name(&c.incumbent.name),
        incumbent_sha256: c.incumbent.digest,
        challenger: name(&c.challenger.name),
        challenger_sha256: c.challenger.digest,
        phase: match c.phase {
            Phase::Shadowing => proto::ChallengePhase::Shadowing,
            Phase::Promoted => proto::ChallengePhase::Promoted,
            Phase::Settled => proto::ChallengePhase::Settled,
            Phase::Rejected => proto::ChallengePhase::Rejected,
            Phase::RolledBack => proto::ChallengePhase::RolledBack,
        },
        serving: name(&c.serving().name),
        shadow: [tally(&c.shadow[0]), tally(&c.shadow[1])],
        window: [tally(&c.window[0]), tally(&c.window[1])],
        started_at: c.started_at,
        decided_at: c.decided_at,
        ended_at: c.ended_at,
    }
}

/// A tally as `passed/asked`, for event fields.
struct Tallied<'a>(&'a challenge::Tally);

impl core::fmt::Display for Tallied<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}/{}", self.0.passed, self.0.asked)
    }
}

/// The protocol's error for a desk refusal.
fn desk_error(error: DeskError) -> Error {
    match error {
        DeskError::Route(_) | DeskError::Policy(_) => Error::Route(text(&error)),
        DeskError::NotCheckable(_) => Error::NotCheckable(text(&error)),
        DeskError::NotRouted(_) | DeskError::MissingAnswer(_) | DeskError::DuplicateAnswer(_) | DeskError::AnswerTooLong(_) => {
            Error::Answers(text(&error))
        }
        DeskError::Gate(_) => Error::Gate(text(&error)),
        DeskError::Write(_) => Error::Write(text(&error)),
        DeskError::NoEntry(i) => Error::NoEntry(i),
        DeskError::UnknownSpecialist(_)
        | DeskError::NotItsTopic { .. }
        | DeskError::AuditCount(_)
        | DeskError::NoCanary { .. }
        | DeskError::AuditMismatch
        | DeskError::AuditTime { .. }
        | DeskError::StoredAudit(_)
        | DeskError::NotClassC(_)
        | DeskError::NotScored(_)
        | DeskError::PanelSize(_)
        | DeskError::DuplicateMember(_)
        | DeskError::PanelNotDiverse(_)
        | DeskError::PanelCount(_)
        | DeskError::PanelAnswers(_) => Error::Audit(text(&error)),
        DeskError::NoSlot(_) | DeskError::NotChallengeable { .. } => Error::Challenge(text(&error)),
        DeskError::Ledger(_) | DeskError::StoredEntry(_) | DeskError::Canary(_) | DeskError::Book(_) => Error::Gate(text(&error)),
    }
}

/// A rate or reputation in millionths, rounded (a float-to-integer `as` saturates, and
/// maps NaN to 0).
fn ppm(value: f64) -> u32 {
    (value * 1_000_000.0 + 0.5) as u32
}

fn code(verdict: &Verdict) -> proto::VerdictCode {
    use proto::VerdictCode as C;
    match verdict {
        Verdict::VerifiedByChecker => C::VerifiedByChecker,
        Verdict::VerifiedByConsensus { .. } => C::VerifiedByConsensus,
        Verdict::Refuted(_) => C::Refuted,
        Verdict::NoQuorum { .. } => C::NoQuorum,
        Verdict::Correlated { .. } => C::Correlated,
        Verdict::PanelNotDiverse => C::PanelNotDiverse,
        Verdict::NeedsHuman => C::NeedsHuman,
    }
}

/// A value's `Debug` form, for texts.
struct DebugText<'a, T: core::fmt::Debug>(&'a T);

impl<T: core::fmt::Debug> core::fmt::Display for DebugText<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// The first word of a value's `Debug` form (its variant's name), for event fields.
struct Word<'a, T: core::fmt::Debug>(&'a T);

impl<T: core::fmt::Debug> core::fmt::Display for Word<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut t: heapless::String<64> = heapless::String::new();
        let _ = write!(t, "{:?}", self.0);
        f.write_str(t.split([' ', '(', '{']).next().unwrap_or(""))
    }
}
