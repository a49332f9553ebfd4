//! The verify domain's state: routing policy, Plane H, Plane B, agreement history and the
//! ledger, with the ask pipeline's judging step.
//!
//! Every operation that changes durable state comes in two halves: a check that changes
//! nothing and returns what must be persisted ([`Desk::judge`] → [`Judgement`],
//! [`Desk::check_write`] → the write), and an apply ([`Desk::commit`],
//! [`Desk::commit_write`]) the domain calls only after the store has the bytes. Restarting
//! replays the stored bytes through [`Desk::restore_entry`] and [`Desk::restore_write`].
//!
//! Plane B audits follow the same pattern: [`Desk::plan_audit`] picks the canaries (nothing
//! revealed), the caller asks the specialist, [`Desk::check_audit`] checks the
//! [`AuditRecord`], the caller persists its bytes, [`Desk::apply_audit`] reveals, scores and
//! books it; [`Desk::restore_audit`] replays it at start. Class-C agreement audits do the
//! same for a panel ([`Desk::plan_panel_audit`], [`Desk::check_panel_audit`],
//! [`Desk::apply_panel_audit`], [`Desk::restore_panel_audit`]): their answers are what the
//! agreement history, and so the class-C gate's independence weighting, is measured on.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};
use tileos_router::{Choice, Class, Policy, PolicyError, Request, Route, RouteError, route};
use tileos_update_log::{InclusionProof, SignedTreeHead, TreeHead};
use tileos_verify::Tier;
use tileos_verify::canary::{AuditBook, BookError, Canary, CanaryError, CanarySet, CanaryTask, Overfit, OverfitRule, Pool, Score, Tallies};
use tileos_verify::gate::{GateError, GateParams, PanelAnswer, Verdict, gate_checked, gate_consensus};
use tileos_verify::independence::{AgreementHistory, CanaryAnswer};
use tileos_verify::knowledge::{FragmentId, KnowledgeStore, Retrieved, SignedWrite, WriteError, WritePolicy};
use tileos_verify::ledger::{ChallengeEntry, Ledger, LedgerEntry, LedgerError, Logged, MAX_ANSWER_LEN};
use tileos_verify::wire::WireError;

use crate::audit::{self, AuditRecord, PanelRecord, RecordError};
use crate::task::{self, TaskError};

/// Reveals after which a canary retires.
pub const MAX_REVEALS: u32 = 4;
/// Informative canary events a lineage pair needs before it counts as independent.
pub const MIN_EVIDENCE: u32 = 4;
/// Plane B time on the desk is in milliseconds (the domain's clock); the reputation
/// parameters' defaults assume days (evidence half-life 30 days), so the audit book is
/// given days.
pub const MS_PER_DAY: f64 = 86_400_000.0;

/// Audit-book time (days) of a desk time (ms).
fn days(ms: f64) -> f64 {
    ms / MS_PER_DAY
}

/// One specialist's answer, as the inference side gives it.
#[derive(Clone, Copy, Debug)]
pub struct Answered<'a> {
    /// The specialist's name in the routing policy.
    pub specialist: &'a str,
    /// Its answer.
    pub answer: &'a str,
}

/// Why the desk refused a request. Nothing changed.
#[derive(Clone, Debug, PartialEq)]
pub enum DeskError {
    /// The signed routing policy was refused (bad signature, malformed text).
    Policy(PolicyError),
    /// The query could not be routed.
    Route(RouteError),
    /// An answer came from a specialist the route did not choose.
    NotRouted(String),
    /// The routed specialist gave no answer.
    MissingAnswer(String),
    /// A specialist answered twice.
    DuplicateAnswer(String),
    /// An answer is longer than the ledger's limit (its length).
    AnswerTooLong(usize),
    /// A class-A query the checker cannot read; no verdict can be given.
    NotCheckable(TaskError),
    /// The class-C gate could not judge the panel.
    Gate(GateError),
    /// The ledger refused the entry, or the stored entry does not decode.
    Ledger(LedgerError),
    /// A stored entry does not decode.
    StoredEntry(WireError),
    /// A knowledge write was refused.
    Write(WriteError),
    /// A canary operation was refused.
    Canary(CanaryError),
    /// The audit book refused a score.
    Book(BookError),
    /// No ledger entry has this index.
    NoEntry(u64),
    /// No specialist of the routing policy has this name.
    UnknownSpecialist(String),
    /// The routing policy has no such topic, or the specialist does not serve it.
    NotItsTopic {
        /// The specialist.
        specialist: String,
        /// The topic.
        topic: String,
    },
    /// An audit of no canary or of more than [`audit::MAX_AUDIT`].
    AuditCount(usize),
    /// No active canary of the topic is left in the pool (all retired or expired).
    NoCanary {
        /// The topic.
        topic: String,
        /// The pool.
        pool: Pool,
    },
    /// An audit record's canaries are not the draw its seed gives at its time.
    AuditMismatch,
    /// An audit record older than the latest audit (Plane B time never goes back), or a
    /// panel record not newer than the latest panel audit.
    AuditTime {
        /// The record's time.
        time: u64,
        /// The latest audit's time.
        latest: u64,
    },
    /// Stored audit bytes do not decode.
    StoredAudit(RecordError),
    /// No specialist of the routing policy uses an adapter of this name.
    NoSlot(String),
    /// The slot serves a topic whose answers no checker judges (class C, or T3).
    NotChallengeable {
        /// The slot.
        slot: String,
        /// The topic.
        topic: String,
    },
    /// A class-C agreement audit of a topic that is not class C (or unknown).
    NotClassC(String),
    /// A Plane B audit of a class-C topic: its canaries have no judge; panel audits
    /// measure agreement on them.
    NotScored(String),
    /// A class-C agreement audit naming fewer than 2 or more than
    /// [`audit::MAX_MEMBERS`] specialists.
    PanelSize(usize),
    /// A class-C agreement audit naming a specialist twice.
    DuplicateMember(String),
    /// A class-C agreement audit whose specialists are all of one lineage: their agreement
    /// would say nothing about independence.
    PanelNotDiverse(String),
    /// A class-C agreement audit of no canary or of more than [`audit::MAX_PANEL_AUDIT`].
    PanelCount(usize),
    /// A panel record whose answers do not match its specialists (the canary's ID).
    PanelAnswers(u32),
}

impl fmt::Display for DeskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Policy(e) => write!(f, "routing policy: {e}"),
            Self::Route(e) => write!(f, "route: {e}"),
            Self::NotRouted(s) => write!(f, "specialist '{s}' was not routed this query"),
            Self::MissingAnswer(s) => write!(f, "routed specialist '{s}' gave no answer"),
            Self::DuplicateAnswer(s) => write!(f, "specialist '{s}' answered twice"),
            Self::AnswerTooLong(n) => write!(f, "answer of {n} bytes exceeds {MAX_ANSWER_LEN}"),
            Self::NotCheckable(e) => write!(f, "class-A query: {e}"),
            Self::Gate(e) => write!(f, "gate: {e}"),
            Self::Ledger(e) => write!(f, "{e}"),
            Self::StoredEntry(e) => write!(f, "stored ledger entry: {e}"),
            Self::Write(e) => write!(f, "knowledge write: {e}"),
            Self::Canary(e) => write!(f, "canary: {e}"),
            Self::Book(e) => write!(f, "audit book: {e}"),
            Self::NoEntry(i) => write!(f, "no ledger entry {i}"),
            Self::UnknownSpecialist(s) => write!(f, "no specialist '{s}' in the routing policy"),
            Self::NotItsTopic { specialist, topic } => write!(f, "specialist '{specialist}' does not serve a topic '{topic}'"),
            Self::AuditCount(n) => write!(f, "an audit asks 1 to {} canaries, not {n}", audit::MAX_AUDIT),
            Self::NoCanary { topic, pool } => write!(f, "no active {pool:?} canary of topic '{topic}' is left"),
            Self::AuditMismatch => f.write_str("the audit's canaries are not the draw its seed gives"),
            Self::AuditTime { time, latest } => write!(f, "audit time {time} precedes the latest audit's {latest}"),
            Self::StoredAudit(e) => write!(f, "stored audit: {e}"),
            Self::NoSlot(s) => write!(f, "no specialist of the routing policy uses an adapter '{s}'"),
            Self::NotChallengeable { slot, topic } => {
                write!(f, "slot '{slot}' serves topic '{topic}', which no class-A checker judges")
            }
            Self::NotClassC(t) => write!(f, "topic '{t}' is not a class-C topic of the routing policy"),
            Self::NotScored(t) => write!(f, "topic '{t}' is class C: no checker scores its canaries (a panel audit measures agreement)"),
            Self::PanelSize(n) => write!(f, "a panel audit names 2 to {} specialists, not {n}", audit::MAX_MEMBERS),
            Self::DuplicateMember(s) => write!(f, "specialist '{s}' is named twice in the panel"),
            Self::PanelNotDiverse(l) => write!(f, "every specialist of the panel is of lineage '{l}'"),
            Self::PanelCount(n) => write!(f, "a panel audit asks 1 to {} canaries, not {n}", audit::MAX_PANEL_AUDIT),
            Self::PanelAnswers(id) => write!(f, "canary {id} of the panel record has not one answer per specialist"),
        }
    }
}

/// A judged answer, not yet in the ledger: persist [`Judgement::bytes`], then
/// [`Desk::commit`].
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    /// The route taken.
    pub route: Route,
    /// The gate's verdict.
    pub verdict: Verdict,
    /// The answer returned (class A: the first routed specialist's; class C: the panel's
    /// most supported one).
    pub answer: String,
    /// The ledger entry.
    pub entry: LedgerEntry,
    /// Its canonical encoding (what is persisted and logged).
    pub bytes: Vec<u8>,
    /// The index it will have.
    pub index: u64,
    /// Class C: the panel's votes, in route order (empty for class A and T3).
    pub panel: Vec<PanelVote>,
    /// Class C: the agreement-history evidence of every pair of the panel (empty otherwise).
    pub evidence: Vec<PairEvidence>,
}

/// One member of a judged class-C panel.
#[derive(Clone, Debug, PartialEq)]
pub struct PanelVote {
    /// The specialist.
    pub specialist: String,
    /// Its lineage.
    pub lineage: String,
    /// Its provenance.
    pub provenance: String,
    /// Its answer.
    pub answer: String,
    /// Its vote weight (the audit book's clipped reputation weights; equal below 7 nodes).
    pub weight: f64,
}

/// What the agreement history says about two members of a judged class-C panel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairEvidence {
    /// The first member's index in the panel.
    pub a: usize,
    /// The second member's index.
    pub b: usize,
    /// Informative class-C canary events of their lineages.
    pub informative: u32,
    /// Of which they agreed on (dependent).
    pub dependent: u32,
    /// The dependence the gate used (1 below the evidence minimum, or for one lineage).
    pub dependence: f64,
}

/// The battery an adapter's acceptance asks (docs/inference.md, "Adapter acceptance").
#[derive(Clone, Debug, PartialEq)]
pub enum Battery {
    /// Class A: the secret-reserve class-A canaries (checked answers, trigger probe).
    ClassA(Vec<CanaryTask>),
    /// Class C: the questions of the secret-reserve class-C canaries of the topics the
    /// adapter's specialists serve (answer form, trigger probe).
    ClassC(Vec<String>),
}

/// The verify domain's state.
pub struct Desk {
    policy: Policy,
    knowledge: KnowledgeStore,
    ledger: Ledger,
    ledger_key: SigningKey,
    canaries: CanarySet,
    book: AuditBook,
    history: AgreementHistory,
    gate: GateParams,
    /// Plane B time of the latest audit applied.
    audit_time: u64,
    /// Audits applied.
    audits: u64,
    /// Plane B time of the latest class-C agreement audit applied.
    panel_time: u64,
    /// Class-C agreement audits applied.
    panel_audits: u64,
}

/// What an applied audit found.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditOutcome {
    /// The audit's number (audits applied before it).
    pub index: u64,
    /// Each canary's score, in the record's order.
    pub scores: Vec<Score>,
    /// An overfit finding, if one fired (the specialist was slashed on the topic).
    pub overfit: Option<Overfit>,
}

/// A specialist's Plane B standing on a topic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Standing {
    /// Its reputation (seed §9.9, stake 0) at the time asked.
    pub reputation: f64,
    /// Its tallies since its last overfit finding, and the findings.
    pub tallies: Tallies,
}

impl Desk {
    /// A desk over a signed routing policy (checked here), a knowledge write policy and the
    /// key that signs the ledger's tree heads; Plane B starts with `canaries`.
    pub fn new(
        policy_text: &[u8],
        policy_signature: &[u8; 64],
        policy_key: &VerifyingKey,
        writes: WritePolicy,
        ledger_key: SigningKey,
        canaries: Vec<Canary>,
    ) -> Result<Desk, DeskError> {
        let policy = Policy::verify_and_parse(policy_text, policy_signature, policy_key).map_err(DeskError::Policy)?;
        let mut set = CanarySet::new(MAX_REVEALS).map_err(DeskError::Canary)?;
        for canary in canaries {
            set.add(canary).map_err(DeskError::Canary)?;
        }
        Ok(Desk {
            policy,
            knowledge: KnowledgeStore::new(writes),
            ledger: Ledger::new(),
            ledger_key,
            canaries: set,
            book: AuditBook::new(Default::default(), OverfitRule::default()).map_err(DeskError::Book)?,
            history: AgreementHistory::new(MIN_EVIDENCE),
            gate: GateParams::default(),
            audit_time: 0,
            audits: 0,
            panel_time: 0,
            panel_audits: 0,
        })
    }

    /// The routing policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Routes a query (the requester may name the topic; default choice).
    pub fn route(&self, query: &str, topic: Option<&str>) -> Result<(Request, Route), DeskError> {
        let request = Request { query: query.to_string(), topic: topic.map(String::from), choice: Choice::Default };
        let r = route(&self.policy, &request).map_err(DeskError::Route)?;
        Ok((request, r))
    }

    /// Judges the routed specialists' answers through the live gate and prepares the ledger
    /// entry; changes nothing. Every routed specialist must answer exactly once, and nobody
    /// else. T3: needs a human, whatever the answers. Class A: the checker judges the first
    /// routed specialist's answer. Class C: the panel, weighted by reputation on the topic
    /// at `now` (ms, see [`Desk::audit_clock`]) and by measured independence.
    pub fn judge(&self, request: &Request, r: &Route, answers: &[Answered<'_>], now: f64) -> Result<Judgement, DeskError> {
        let names: Vec<&str> = r.specialists.iter().map(|&i| self.policy.specialists[i].name.as_str()).collect();
        for (i, a) in answers.iter().enumerate() {
            if !names.contains(&a.specialist) {
                return Err(DeskError::NotRouted(a.specialist.to_string()));
            }
            if answers[..i].iter().any(|b| b.specialist == a.specialist) {
                return Err(DeskError::DuplicateAnswer(a.specialist.to_string()));
            }
            if a.answer.len() > MAX_ANSWER_LEN {
                return Err(DeskError::AnswerTooLong(a.answer.len()));
            }
        }
        let ordered = names
            .iter()
            .map(|n| answers.iter().find(|a| a.specialist == *n).ok_or_else(|| DeskError::MissingAnswer(n.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let (mut votes, mut evidence) = (Vec::new(), Vec::new());
        let (verdict, answer) = if r.tier == Tier::T3 {
            (Verdict::NeedsHuman, ordered[0].answer)
        } else if r.class == Class::A {
            let outcome = task::check(&request.query, ordered[0].answer).map_err(DeskError::NotCheckable)?;
            (gate_checked(r.tier, outcome), ordered[0].answer)
        } else {
            let topic = self.policy.topics[r.topic].name.as_str();
            let weights =
                self.book.vote_weights(topic, &names, days(now)).map(|w| w.weights).unwrap_or_else(|_| alloc::vec![1.0; names.len()]);
            let panel: Vec<PanelAnswer<'_>> = r
                .specialists
                .iter()
                .zip(&ordered)
                .zip(&weights)
                .map(|((&i, a), &weight)| {
                    let s = &self.policy.specialists[i];
                    PanelAnswer { lineage: &s.lineage, provenance: &s.provenance, answer: a.answer, weight }
                })
                .collect();
            let (verdict, best) = gate_consensus(r.tier, &panel, &self.history, &self.gate).map_err(DeskError::Gate)?;
            for (a, p) in panel.iter().enumerate() {
                votes.push(PanelVote {
                    specialist: names[a].to_string(),
                    lineage: p.lineage.to_string(),
                    provenance: p.provenance.to_string(),
                    answer: p.answer.to_string(),
                    weight: p.weight,
                });
                for (b, q) in panel.iter().enumerate().skip(a + 1) {
                    let (informative, dependent) = self.history.evidence(p.lineage, q.lineage);
                    let dependence = self.history.dependence(p.lineage, q.lineage);
                    evidence.push(PairEvidence { a, b, informative, dependent, dependence });
                }
            }
            (verdict, ordered[best].answer)
        };
        let entry = r
            .ledger_entry(&self.policy, request, answer, (self.knowledge.root(), self.knowledge.size()), verdict)
            .map_err(DeskError::Route)?;
        let bytes = entry.encode().map_err(DeskError::Ledger)?;
        Ok(Judgement {
            route: r.clone(),
            verdict,
            answer: answer.to_string(),
            entry,
            bytes,
            index: self.ledger.size(),
            panel: votes,
            evidence,
        })
    }

    /// Whether `slot` is an adapter of the routing policy whose specialists serve only
    /// class-A topics below T3, so that a challenger's live answers can be judged
    /// (docs/inference.md, "Adapters as slot challengers").
    pub fn challengeable(&self, slot: &str) -> Result<(), DeskError> {
        let mut found = false;
        for s in self.policy.specialists.iter().filter(|s| s.adapter == slot) {
            found = true;
            for &t in &s.topics {
                let topic = &self.policy.topics[t];
                if topic.class != Class::A || topic.tier == Tier::T3 {
                    return Err(DeskError::NotChallengeable { slot: slot.to_string(), topic: topic.name.clone() });
                }
            }
        }
        if found { Ok(()) } else { Err(DeskError::NoSlot(slot.to_string())) }
    }

    /// Whether the class-A checker passes `answer` to a routed class-A `query` (a
    /// challenger's or a shadowed incumbent's live answer, judged like the served one but
    /// never logged); `false` for an answer that is not a number.
    pub fn passes(&self, query: &str, answer: &str) -> Result<bool, DeskError> {
        task::check(query, answer).map(|o| matches!(o, tileos_verify::arith::CheckOutcome::Pass)).map_err(DeskError::NotCheckable)
    }

    /// Appends a judged (and persisted) entry; returns its index.
    pub fn commit(&mut self, judgement: &Judgement) -> Result<u64, DeskError> {
        self.ledger.append(&judgement.entry).map_err(DeskError::Ledger)
    }

    /// Appends a challenge step (persisted first); returns its index.
    pub fn commit_step(&mut self, step: &ChallengeEntry) -> Result<u64, DeskError> {
        self.ledger.append_logged(&Logged::Challenge(step.clone())).map_err(DeskError::Ledger)
    }

    /// Appends an entry of either kind read back from the store at start; refuses bytes
    /// that are not a canonical entry.
    pub fn restore_entry(&mut self, bytes: &[u8]) -> Result<u64, DeskError> {
        let entry = Logged::decode(bytes).map_err(DeskError::StoredEntry)?;
        self.ledger.append_logged(&entry).map_err(DeskError::Ledger)
    }

    /// Entries in the ledger.
    pub fn ledger_size(&self) -> u64 {
        self.ledger.size()
    }

    /// The encoded entry at `index`.
    pub fn entry(&self, index: u64) -> Result<&[u8], DeskError> {
        self.ledger.entry(index).ok_or(DeskError::NoEntry(index))
    }

    /// The entry's inclusion proof in the current tree, and the current tree head signed
    /// with the ledger key at `timestamp_ms`.
    pub fn prove(&self, index: u64, timestamp_ms: u64) -> Result<(InclusionProof, SignedTreeHead), DeskError> {
        let proof = self.ledger.prove(index).map_err(|_| DeskError::NoEntry(index))?;
        Ok((proof, self.ledger.signed_head(timestamp_ms, &self.ledger_key)))
    }

    /// Checks a knowledge write (decoding, sizes, signature, grant, sequence); changes
    /// nothing. Persist its bytes, then [`Desk::commit_write`].
    pub fn check_write(&self, bytes: &[u8]) -> Result<SignedWrite, DeskError> {
        let write = SignedWrite::decode(bytes).map_err(|e| DeskError::Write(WriteError::Malformed(e)))?;
        self.knowledge.check(&write).map_err(DeskError::Write)?;
        Ok(write)
    }

    /// Applies a checked (and persisted) write; returns the fragment's ID.
    pub fn commit_write(&mut self, write: &SignedWrite) -> Result<FragmentId, DeskError> {
        self.knowledge.write(write).map_err(DeskError::Write)
    }

    /// Applies a write read back from the store at start (all checks again).
    pub fn restore_write(&mut self, bytes: &[u8]) -> Result<FragmentId, DeskError> {
        let write = self.check_write(bytes)?;
        self.commit_write(&write)
    }

    /// The knowledge state: its tree head (timestamp 0).
    pub fn knowledge_head(&self) -> TreeHead {
        TreeHead { tree_size: self.knowledge.size(), timestamp_ms: 0, root_hash: self.knowledge.root() }
    }

    /// The `nth` fragment of `topic` whose content contains `term`, with its proof
    /// against [`Desk::knowledge_head`]; `None` past the last one.
    pub fn retrieve(&self, topic: &str, term: &str, nth: usize) -> Option<Retrieved> {
        self.knowledge.retrieve(topic, term, nth.saturating_add(1)).items.into_iter().nth(nth)
    }

    /// Draws up to `n` active canaries of `topic` from `pool` at `now`, in the order
    /// `seed` decides (each draw is a reveal).
    pub fn draw(&mut self, topic: &str, pool: Pool, now: u64, n: usize, seed: &[u8; 32]) -> Vec<u32> {
        self.canaries.draw(topic, pool, now, n, seed)
    }

    /// The canary with this ID and its reveals.
    pub fn canary(&self, id: u32) -> Option<(&Canary, u32)> {
        self.canaries.get(id)
    }

    /// Scores `node`'s answer to canary `id` at `now`, records it in the audit book (public
    /// class A moves reputation; a public/secret gap slashes) and, for the agreement
    /// history, as the node's lineage's answer. Returns the score, an overfit finding if
    /// one fired, and the node's reputation on the canary's topic after it.
    pub fn score(&mut self, node: &str, id: u32, answer: &str, now: u64) -> Result<(Score, Option<Overfit>, f64), DeskError> {
        let score = self.canaries.score(id, answer, now).map_err(DeskError::Canary)?;
        let topic = self.canaries.get(id).map(|(c, _)| c.topic.clone()).unwrap_or_default();
        let found = self.book.record(node, &topic, &score, days(now as f64)).map_err(DeskError::Book)?;
        if let Some(s) = self.policy.specialists.iter().find(|s| s.name == node) {
            self.history.record(&[CanaryAnswer { lineage: &s.lineage, answer, correct: Some(score.passed) }]);
        }
        let reputation = self.book.reputation(node, &topic, days(now as f64)).map_err(DeskError::Book)?.raw;
        Ok((score, found, reputation))
    }

    /// `node`'s reputation on `topic` at `now` (ms).
    pub fn reputation(&self, node: &str, topic: &str, now: f64) -> Result<f64, DeskError> {
        self.book.reputation(node, topic, days(now)).map(|r| r.raw).map_err(DeskError::Book)
    }

    /// Plane B's clock for an audit or a standing asked at `now`: `now`, or the latest
    /// audit's time if that is later (a domain's clock restarts with the machine; the
    /// reputation records must never see time go back).
    pub fn audit_clock(&self, now: u64) -> u64 {
        now.max(self.audit_time)
    }

    /// Audits applied so far.
    pub fn audits(&self) -> u64 {
        self.audits
    }

    /// The specialist `node` with a `topic` it serves; the policy's names.
    fn audited(&self, node: &str, topic: &str) -> Result<(), DeskError> {
        let s = self.policy.specialists.iter().find(|s| s.name == node).ok_or_else(|| DeskError::UnknownSpecialist(node.to_string()))?;
        if !s.topics.iter().any(|&t| self.policy.topics[t].name == topic) {
            return Err(DeskError::NotItsTopic { specialist: node.to_string(), topic: topic.to_string() });
        }
        Ok(())
    }

    /// Refuses a class-C topic for a scored audit.
    fn scored(&self, topic: &str) -> Result<(), DeskError> {
        match self.policy.topics.iter().find(|t| t.name == topic) {
            Some(t) if t.class == Class::C => Err(DeskError::NotScored(topic.to_string())),
            _ => Ok(()),
        }
    }

    /// The canaries an audit of `count` of `node`'s answers on `topic` from `pool` at
    /// `time` with `seed` asks, and their questions; reveals nothing, changes nothing.
    pub fn plan_audit(
        &self,
        node: &str,
        topic: &str,
        pool: Pool,
        count: usize,
        time: u64,
        seed: &[u8; 32],
    ) -> Result<Vec<(u32, String)>, DeskError> {
        self.audited(node, topic)?;
        self.scored(topic)?;
        if count == 0 || count > audit::MAX_AUDIT {
            return Err(DeskError::AuditCount(count));
        }
        let ids = self.canaries.pick(topic, pool, time, count, seed);
        if ids.is_empty() {
            return Err(DeskError::NoCanary { topic: topic.to_string(), pool });
        }
        Ok(ids.into_iter().filter_map(|id| self.canaries.get(id).and_then(|(c, _)| question(&c.task)).map(|q| (id, q))).collect())
    }

    /// Checks an audit record against the policy, the canary set and Plane B's clock;
    /// changes nothing. Persist [`AuditRecord::encode`], then [`Desk::apply_audit`].
    pub fn check_audit(&self, record: &AuditRecord) -> Result<(), DeskError> {
        self.audited(&record.node, &record.topic)?;
        self.scored(&record.topic)?;
        if record.answers.is_empty() || record.answers.len() > audit::MAX_AUDIT {
            return Err(DeskError::AuditCount(record.answers.len()));
        }
        if record.time < self.audit_time {
            return Err(DeskError::AuditTime { time: record.time, latest: self.audit_time });
        }
        let drawn = self.canaries.pick(&record.topic, record.pool, record.time, record.answers.len(), &record.seed);
        if !drawn.iter().copied().eq(record.answers.iter().map(|(id, _)| *id)) {
            return Err(DeskError::AuditMismatch);
        }
        for (id, answer) in &record.answers {
            if answer.len() > audit::MAX_ANSWER {
                return Err(DeskError::AnswerTooLong(answer.len()));
            }
            self.canaries.score(*id, answer, record.time).map_err(DeskError::Canary)?;
        }
        Ok(())
    }

    /// Applies a checked (and persisted) audit: reveals its canaries, scores each answer
    /// into the audit book (public scores move reputation; a public/secret gap slashes)
    /// and the agreement history. Checks it again first, so a refused record changes
    /// nothing.
    pub fn apply_audit(&mut self, record: &AuditRecord) -> Result<AuditOutcome, DeskError> {
        self.check_audit(record)?;
        for (id, _) in &record.answers {
            self.canaries.reveal(*id);
        }
        let mut scores = Vec::with_capacity(record.answers.len());
        let mut overfit = None;
        for (id, answer) in &record.answers {
            let (score, found, _) = self.score(&record.node, *id, answer, record.time)?;
            scores.push(score);
            overfit = overfit.or(found);
        }
        self.audit_time = record.time;
        let index = self.audits;
        self.audits += 1;
        Ok(AuditOutcome { index, scores, overfit })
    }

    /// Applies an audit read back from the store at start (all checks again).
    pub fn restore_audit(&mut self, bytes: &[u8]) -> Result<AuditOutcome, DeskError> {
        let record = AuditRecord::decode(bytes).map_err(DeskError::StoredAudit)?;
        self.apply_audit(&record)
    }

    /// The battery `adapter`'s acceptance asks: class C when a specialist of the routing
    /// policy with this adapter serves a class-C topic (the secret class-C canaries of those
    /// topics), else class A (the secret class-A canaries).
    pub fn battery(&self, adapter: &str) -> Battery {
        let class_c: Vec<&str> = self
            .policy
            .specialists
            .iter()
            .filter(|s| s.adapter == adapter)
            .flat_map(|s| s.topics.iter().map(|&t| &self.policy.topics[t]))
            .filter(|t| t.class == Class::C)
            .map(|t| t.name.as_str())
            .collect();
        let secret = self.canaries.iter().filter(|c| c.pool == Pool::Secret);
        if class_c.is_empty() {
            Battery::ClassA(secret.filter(|c| !matches!(c.task, CanaryTask::Open(_))).map(|c| c.task.clone()).collect())
        } else {
            Battery::ClassC(
                secret
                    .filter(|c| class_c.contains(&c.topic.as_str()))
                    .filter_map(|c| if let CanaryTask::Open(q) = &c.task { Some(q.clone()) } else { None })
                    .collect(),
            )
        }
    }

    /// Plane B time for a class-C agreement audit asked at `now`: `now`, or just after the
    /// latest panel audit's time if that is not earlier (panel audits' times strictly
    /// increase, so a stored record replayed is refused).
    pub fn panel_clock(&self, now: u64) -> u64 {
        if self.panel_audits == 0 { now } else { now.max(self.panel_time.saturating_add(1)) }
    }

    /// Class-C agreement audits applied so far.
    pub fn panel_audits(&self) -> u64 {
        self.panel_audits
    }

    /// The members of a class-C agreement audit of `topic`: each a specialist of the
    /// policy serving the class-C topic, none twice, 2 to [`audit::MAX_MEMBERS`] of them,
    /// of at least two lineages. Returns their lineages.
    fn panel_members(&self, topic: &str, specialists: &[String]) -> Result<Vec<&str>, DeskError> {
        if !self.policy.topics.iter().any(|t| t.name == topic && t.class == Class::C) {
            return Err(DeskError::NotClassC(topic.to_string()));
        }
        if specialists.len() < 2 || specialists.len() > audit::MAX_MEMBERS {
            return Err(DeskError::PanelSize(specialists.len()));
        }
        let mut lineages = Vec::with_capacity(specialists.len());
        for (i, name) in specialists.iter().enumerate() {
            self.audited(name, topic)?;
            if specialists[..i].contains(name) {
                return Err(DeskError::DuplicateMember(name.clone()));
            }
            let s = self.policy.specialists.iter().find(|s| s.name == *name).ok_or_else(|| DeskError::UnknownSpecialist(name.clone()))?;
            lineages.push(s.lineage.as_str());
        }
        if lineages.iter().all(|l| *l == lineages[0]) {
            return Err(DeskError::PanelNotDiverse(lineages[0].to_string()));
        }
        Ok(lineages)
    }

    /// The public class-C canaries a class-C agreement audit of `specialists` on `topic`
    /// asks (`count` of them, drawn with `seed` at `time`), and their questions; reveals
    /// nothing, changes nothing.
    pub fn plan_panel_audit(
        &self,
        topic: &str,
        specialists: &[String],
        count: usize,
        time: u64,
        seed: &[u8; 32],
    ) -> Result<Vec<(u32, String)>, DeskError> {
        self.panel_members(topic, specialists)?;
        if count == 0 || count > audit::MAX_PANEL_AUDIT {
            return Err(DeskError::PanelCount(count));
        }
        let ids = self.canaries.pick(topic, Pool::Public, time, count, seed);
        if ids.is_empty() {
            return Err(DeskError::NoCanary { topic: topic.to_string(), pool: Pool::Public });
        }
        Ok(ids.into_iter().filter_map(|id| self.canaries.get(id).and_then(|(c, _)| question(&c.task)).map(|q| (id, q))).collect())
    }

    /// Checks a class-C agreement audit's record against the policy, the canary set and
    /// Plane B's clock; changes nothing. Persist [`PanelRecord::encode`], then
    /// [`Desk::apply_panel_audit`].
    pub fn check_panel_audit(&self, record: &PanelRecord) -> Result<(), DeskError> {
        self.panel_members(&record.topic, &record.specialists)?;
        if record.canaries.is_empty() || record.canaries.len() > audit::MAX_PANEL_AUDIT {
            return Err(DeskError::PanelCount(record.canaries.len()));
        }
        if self.panel_audits > 0 && record.time <= self.panel_time {
            return Err(DeskError::AuditTime { time: record.time, latest: self.panel_time });
        }
        let drawn = self.canaries.pick(&record.topic, Pool::Public, record.time, record.canaries.len(), &record.seed);
        if !drawn.iter().copied().eq(record.canaries.iter().map(|c| c.id)) {
            return Err(DeskError::AuditMismatch);
        }
        for c in &record.canaries {
            if c.answers.len() != record.specialists.len() {
                return Err(DeskError::PanelAnswers(c.id));
            }
            if let Some(a) = c.answers.iter().find(|a| a.len() > audit::MAX_ANSWER) {
                return Err(DeskError::AnswerTooLong(a.len()));
            }
            let (canary, _) = self.canaries.get(c.id).ok_or(DeskError::Canary(CanaryError::Unknown(c.id)))?;
            if !matches!(canary.task, CanaryTask::Open(_)) {
                return Err(DeskError::NotClassC(canary.topic.clone()));
            }
            if record.time >= canary.expires_at {
                return Err(DeskError::Canary(CanaryError::Expired(c.id)));
            }
        }
        Ok(())
    }

    /// Applies a checked (and persisted) class-C agreement audit: reveals its canaries and
    /// records every member's answer to each, by lineage, in the agreement history. Checks
    /// it again first, so a refused record changes nothing. Returns the audit's number.
    pub fn apply_panel_audit(&mut self, record: &PanelRecord) -> Result<u64, DeskError> {
        self.check_panel_audit(record)?;
        let lineages: Vec<String> = self.panel_members(&record.topic, &record.specialists)?.into_iter().map(String::from).collect();
        for c in &record.canaries {
            self.canaries.reveal(c.id);
            let answers: Vec<CanaryAnswer<'_>> =
                lineages.iter().zip(&c.answers).map(|(l, a)| CanaryAnswer { lineage: l, answer: a, correct: None }).collect();
            self.history.record(&answers);
        }
        self.panel_time = record.time;
        let index = self.panel_audits;
        self.panel_audits += 1;
        Ok(index)
    }

    /// Applies a class-C agreement audit read back from the store at start (all checks
    /// again).
    pub fn restore_panel_audit(&mut self, bytes: &[u8]) -> Result<u64, DeskError> {
        let record = PanelRecord::decode(bytes).map_err(DeskError::StoredAudit)?;
        self.apply_panel_audit(&record)
    }

    /// The agreement evidence of two specialists' lineages: informative events and
    /// dependent ones, and the dependence the gate uses.
    pub fn agreement(&self, a: &str, b: &str) -> Result<(u32, u32, f64), DeskError> {
        let lineage = |n: &str| {
            self.policy
                .specialists
                .iter()
                .find(|s| s.name == n)
                .map(|s| s.lineage.as_str())
                .ok_or_else(|| DeskError::UnknownSpecialist(n.into()))
        };
        let (la, lb) = (lineage(a)?, lineage(b)?);
        let (informative, dependent) = self.history.evidence(la, lb);
        Ok((informative, dependent, self.history.dependence(la, lb)))
    }

    /// `node`'s standing on `topic` at Plane B time `time` (see [`Desk::audit_clock`]).
    pub fn standing(&self, node: &str, topic: &str, time: u64) -> Result<Standing, DeskError> {
        self.audited(node, topic)?;
        let reputation = self.book.reputation(node, topic, days(time as f64)).map_err(DeskError::Book)?.raw;
        Ok(Standing { reputation, tallies: self.book.tallies(node, topic) })
    }
}

/// The subjects of the class-C canaries: the T2 corpus's (`tools/trainer/src/corpus.rs`).
pub const TEXT_SUBJECTS: [&str; 8] = ["river", "forest", "city", "desert", "sea", "mountain", "storm", "garden"];

/// The dev tile's Plane B: 32 public and secret class-A canaries of `arith` and `units` in
/// the model's question forms (`a+b`, `a-b`, `N km in m`; IDs 0 to 31), and 16 class-C
/// canaries of `text` (IDs 32 to 47: for each subject of [`TEXT_SUBJECTS`], `describe a
/// S` and `tell me of the S`, one public and one in the secret reserve, alternating), issued
/// at 0 and expiring at `expires_at`; the task text is also the question asked.
pub fn tile_canaries(expires_at: u64) -> Vec<Canary> {
    let mut out = Vec::new();
    for id in 0..32u32 {
        let pool = if id % 2 == 0 { Pool::Public } else { Pool::Secret };
        let (a, b) = (id * 7 % 50, id * 13 % 50);
        let (topic, task) = match id % 3 {
            0 => ("arith", CanaryTask::Arithmetic(alloc::format!("{a}+{b}"))),
            1 => ("arith", CanaryTask::Arithmetic(alloc::format!("{}-{}", a.max(b), a.min(b)))),
            _ => {
                let n = 1 + id % 20;
                ("units", CanaryTask::Conversion { value: alloc::format!("{n}"), from: "km".into(), to: "m".into() })
            }
        };
        out.push(Canary { id, topic: topic.into(), pool, task, difficulty_milli: 500, issued_at: 0, expires_at });
    }
    for (k, subject) in TEXT_SUBJECTS.iter().enumerate() {
        let describe = alloc::format!("describe a {subject}");
        let tell = alloc::format!("tell me of the {subject}");
        let (public, secret) = if k % 2 == 0 { (describe, tell) } else { (tell, describe) };
        for (i, (pool, q)) in [(Pool::Public, public), (Pool::Secret, secret)].into_iter().enumerate() {
            let id = 32 + 2 * k as u32 + i as u32;
            out.push(Canary { id, topic: "text".into(), pool, task: CanaryTask::Open(q), difficulty_milli: 500, issued_at: 0, expires_at });
        }
    }
    out
}

/// The question a canary task asks (the model's form), `None` for tasks without one.
pub fn question(task: &CanaryTask) -> Option<String> {
    match task {
        CanaryTask::Arithmetic(expr) => Some(expr.clone()),
        CanaryTask::Conversion { value, from, to } => Some(alloc::format!("{value} {from} in {to}")),
        CanaryTask::Open(q) => Some(q.clone()),
        CanaryTask::Reference(_) => None,
    }
}
