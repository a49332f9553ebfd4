//! The verify protocol: the verify domain (`userland/services/verify`, docs/inference.md
//! "The verify domain") answers on the endpoint named [`Verify::NAME`](crate::Protocol::NAME) (`"verify"`).
//!
//! - [`Request::Ask`]: the ask path. The domain routes the query under its signed routing
//!   policy, asks the inference domain with each routed specialist's adapter, judges the
//!   answers through the live gate and appends the tuple to the ledger (persisted in the
//!   store before the answer leaves). Answer: [`Response::Answered`].
//! - [`Request::Judge`]: the same without inference, for answers given by the caller; only
//!   badges whose description param `judge` is 1 may use it (the ledger attributes the
//!   answers to the routed specialists).
//! - [`Request::Accept`]: adapter acceptance (canary battery and trigger probe through the
//!   inference domain); an adapter is used by [`Request::Ask`] only once accepted, and only
//!   while the inference domain serves the very file that was accepted (its SHA-256).
//! - [`Request::Write`] and [`Request::Retrieve`]: Plane H, signed knowledge writes and
//!   retrieval with inclusion proofs, which the consumer checks.
//! - [`Request::Entry`] and [`Request::Proof`]: a ledger entry's bytes (in chunks) and its
//!   inclusion proof under a signed tree head.
//! - [`Request::Audit`] and [`Request::Standing`]: Plane B. An audit draws canaries of a
//!   topic (public, or the secret reserve for a blind audit), asks the specialist's accepted
//!   adapter through the inference domain, scores the answers into the audit book
//!   (reputation from public class-A scores, the overfit penalty from the public/secret
//!   gap) and persists the audit before it answers; only badges whose description param
//!   `audit` is 1 may run one. A standing is a specialist's reputation and tallies on a
//!   topic, readable by any client.
//! - [`Request::Challenge`] and [`Request::ChallengeState`]: adapters as slot challengers.
//!   An accepted adapter challenges the adapter serving a slot (an adapter name of the
//!   routing policy) on live traffic: it answers each live class-A question of the slot
//!   beside the serving adapter, never to the client; it is promoted or rejected on its
//!   checker pass rate, and a promotion is rolled back if that rate falls in the rollback
//!   window. Only badges whose description param `challenge` is 1 may start one; anyone
//!   may read its state.
//!
//! - [`Request::PanelAudit`]: a class-C agreement audit. Every named specialist (of a
//!   class-C topic, of at least two lineages) answers the same drawn public class-C
//!   canaries through the inference domain; the answers feed the agreement history that the
//!   class-C gate's independence weighting reads. Badges with `audit = 1` only. Answer:
//!   [`Response::PanelAudited`].
//!
//! Sizes are chosen so that every message fits one IPC message ([`crate::MAX_PAYLOAD`]).

use serde::{Deserialize, Serialize};

/// The verify protocol.
pub struct Verify;

impl crate::Protocol for Verify {
    const NAME: &'static str = "verify";
    type Request = Request;
    type Response = Response;
}

/// Longest query on the wire. The router accepts up to 1024 bytes; one message carries
/// this many (a longer one up to this size that the model cannot take is refused by the
/// inference domain, precisely).
pub const MAX_QUERY: usize = 256;
/// Longest name (topic, specialist, adapter).
pub const MAX_NAME: usize = 32;
/// Longest answer carried (the model generates at most 61 bytes).
pub const MAX_ANSWER: usize = 64;
/// Most specialists a route or a judged panel carries here.
pub const MAX_PANEL: usize = 4;
/// Longest encoded signed knowledge write on the wire (content up to about 250 bytes).
pub const MAX_WRITE: usize = 384;
/// Most hashes of a ledger proof: proofs of a ledger of up to 2^16 entries fit.
pub const MAX_PROOF: usize = 16;
/// Most hashes of a fragment's proof: proofs of a knowledge tree of up to 2^12 fragments
/// fit (beyond, [`Error::NoFragment`]).
pub const MAX_FRAGMENT_PROOF: usize = 12;
/// Bytes of a ledger entry per [`Request::Entry`] chunk.
pub const ENTRY_CHUNK: usize = 512;
/// Longest rendered text (a verdict, an error's detail).
pub const MAX_TEXT: usize = 120;
/// Most canaries one audit asks (`tileos_verify_service::audit::MAX_AUDIT`).
pub const MAX_AUDIT: usize = 8;
/// Longest canary question carried in an audit's answer.
pub const MAX_QUESTION: usize = 24;
/// Most canaries one class-C agreement audit asks
/// (`tileos_verify_service::audit::MAX_PANEL_AUDIT`).
pub const MAX_PANEL_AUDIT: usize = 2;
/// Most pairs of a panel of [`MAX_PANEL`].
pub const MAX_PAIRS: usize = MAX_PANEL * (MAX_PANEL - 1) / 2;

/// A name.
pub type Name = heapless::String<MAX_NAME>;
/// A query.
pub type Query = heapless::String<MAX_QUERY>;
/// An answer.
pub type Answer = heapless::String<MAX_ANSWER>;
/// Rendered text.
pub type Text = heapless::String<MAX_TEXT>;
/// A SHA-256 digest.
pub type Digest = [u8; 32];
/// An audit path.
pub type Path = heapless::Vec<Digest, MAX_PROOF>;
/// A canary's question.
pub type Question = heapless::String<MAX_QUESTION>;

/// Which canaries an audit draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditPool {
    /// Public canaries: scores are evidence for reputation.
    Public,
    /// The secret reserve: a blind audit, never reward-bearing; it feeds the overfit
    /// detector.
    Secret,
}

/// One specialist's answer, given by a judging caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GivenAnswer {
    /// The specialist's name in the routing policy.
    pub specialist: Name,
    /// Its answer.
    pub answer: Answer,
}

/// A request to the verify domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
// Requests are decoded from one message and handled at once, never kept in collections.
#[allow(clippy::large_enum_variant)]
pub enum Request {
    /// Route, infer, judge, log. Answer: [`Response::Answered`].
    Ask {
        /// The question.
        query: Query,
        /// The topic, if the requester names it.
        topic: Option<Name>,
    },
    /// Route, judge and log the caller's answers (badges with `judge = 1` only). Answer:
    /// [`Response::Answered`].
    Judge {
        /// The question.
        query: Query,
        /// The topic, if the requester names it.
        topic: Option<Name>,
        /// The routed specialists' answers.
        answers: heapless::Vec<GivenAnswer, MAX_PANEL>,
    },
    /// Run adapter acceptance on an adapter the inference domain serves. Answer:
    /// [`Response::Accepted`].
    Accept {
        /// The adapter's name.
        adapter: Name,
    },
    /// A signed knowledge write (`tileos_verify::knowledge::SignedWrite` encoding). Answer:
    /// [`Response::Written`].
    Write {
        /// The encoded write.
        bytes: heapless::Vec<u8, MAX_WRITE>,
    },
    /// The `nth` fragment of `topic` whose content contains `term`. Answer:
    /// [`Response::Fragment`].
    Retrieve {
        /// The topic.
        topic: Name,
        /// A search term (empty: all).
        term: Name,
        /// Which match, from 0.
        nth: u32,
    },
    /// `ENTRY_CHUNK` bytes of ledger entry `index` from `offset`. Answer:
    /// [`Response::EntryChunk`].
    Entry {
        /// The entry.
        index: u64,
        /// The first byte wanted.
        offset: u32,
    },
    /// Entry `index`'s inclusion proof under the current signed tree head. Answer:
    /// [`Response::Proof`].
    Proof {
        /// The entry.
        index: u64,
    },
    /// The domain's state. Answer: [`Response::Status`].
    Status,
    /// A Plane B audit of `specialist` on `topic`: `count` (1 to [`MAX_AUDIT`]) canaries
    /// drawn from `pool`, asked through the inference domain with the specialist's accepted
    /// adapter, scored and persisted (badges with `audit = 1` only). Answer:
    /// [`Response::Audited`].
    Audit {
        /// The specialist (a name in the routing policy).
        specialist: Name,
        /// A topic it serves.
        topic: Name,
        /// The pool drawn from.
        pool: AuditPool,
        /// How many canaries.
        count: u8,
    },
    /// `specialist`'s standing on `topic`. Answer: [`Response::Standing`].
    Standing {
        /// The specialist.
        specialist: Name,
        /// The topic.
        topic: Name,
    },
    /// Start a challenge of the adapter serving `slot` by the accepted adapter
    /// `challenger` (badges with `challenge = 1` only); persisted before it is answered.
    /// Answer: [`Response::Challenge`].
    Challenge {
        /// The slot: an adapter name of the routing policy.
        slot: Name,
        /// The challenger (an accepted adapter).
        challenger: Name,
    },
    /// The slot's latest challenge. Answer: [`Response::Challenge`].
    ChallengeState {
        /// The slot.
        slot: Name,
    },
    /// A class-C agreement audit of `specialists` (2 to [`MAX_PANEL`] of a class-C
    /// `topic`, at least two lineages) on `count` (1 to [`MAX_PANEL_AUDIT`]) public class-C
    /// canaries, asked through the inference domain with each one's accepted adapter,
    /// persisted, then recorded in the agreement history (badges with `audit = 1` only).
    /// Answer: [`Response::PanelAudited`].
    PanelAudit {
        /// The class-C topic.
        topic: Name,
        /// The specialists (names in the routing policy).
        specialists: heapless::Vec<Name, MAX_PANEL>,
        /// How many canaries.
        count: u8,
    },
}

/// The gate's verdict, as a code (the text says more).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VerdictCode {
    /// Class A: the checker passed.
    VerifiedByChecker,
    /// Class C: enough independent agreement.
    VerifiedByConsensus,
    /// Class A: the checker computed another value.
    Refuted,
    /// Class C: no quorum.
    NoQuorum,
    /// Class C: the agreeing voters are too correlated.
    Correlated,
    /// Class C: one provenance only.
    PanelNotDiverse,
    /// T3: a human decides.
    NeedsHuman,
}

/// A judged and logged answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answered {
    /// The answer returned.
    pub answer: Answer,
    /// The routed topic.
    pub topic: Name,
    /// Its tier, 1 to 3.
    pub tier: u8,
    /// The routed specialists, in panel order.
    pub specialists: heapless::Vec<Name, MAX_PANEL>,
    /// The verdict.
    pub verdict: VerdictCode,
    /// The verdict in words (e.g. the value the checker expected).
    pub verdict_text: Text,
    /// The ledger entry's index.
    pub index: u64,
    /// SHA-256 of the entry's bytes.
    pub entry_sha256: Digest,
    /// Entries in the ledger after it.
    pub ledger_size: u64,
    /// The routing policy's digest.
    pub policy: Digest,
    /// The knowledge root the answer was given against, and its size.
    pub memory_root: Digest,
    /// Fragments under that root.
    pub memory_size: u64,
    /// Class C: each panel member's answer and vote weight, in `specialists` order (empty
    /// for class A and T3).
    pub panel: heapless::Vec<Vote, MAX_PANEL>,
    /// Class C: what the agreement history says of each pair of the panel.
    pub pairs: heapless::Vec<PairEvidence, MAX_PAIRS>,
    /// Class C, when the gate reached them: the effective independent voters behind the
    /// answer and its weighted share, in millionths.
    pub consensus: Option<Consensus>,
}

/// A class-C panel member's vote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// Its answer.
    pub answer: Answer,
    /// Its vote weight, in millionths.
    pub weight_ppm: u32,
}

/// The agreement history's evidence on two specialists' lineages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairEvidence {
    /// The first specialist's index (in the panel or audit).
    pub a: u8,
    /// The second's.
    pub b: u8,
    /// Informative class-C canary events of the pair.
    pub informative: u32,
    /// Of which they agreed on.
    pub dependent: u32,
    /// The dependence the gate uses, in millionths (1,000,000 below the evidence minimum).
    pub dependence_ppm: u32,
}

/// The class-C gate's figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consensus {
    /// Effective independent voters behind the answer, in millionths.
    pub effective_voters_ppm: u32,
    /// Weighted share behind it, in millionths (0 when the verdict does not carry it).
    pub share_ppm: u32,
}

/// One canary of a class-C agreement audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanelCanary {
    /// The canary's ID.
    pub id: u32,
    /// Its question.
    pub question: Question,
    /// Each specialist's answer, in the audit's order.
    pub answers: heapless::Vec<Answer, MAX_PANEL>,
}

/// An applied (and persisted) class-C agreement audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanelAudited {
    /// The panel audit's number on this tile, from 0.
    pub index: u64,
    /// The specialists, in answer order.
    pub specialists: heapless::Vec<Name, MAX_PANEL>,
    /// The canaries, in draw order.
    pub canaries: heapless::Vec<PanelCanary, MAX_PANEL_AUDIT>,
    /// The agreement history of each pair after it.
    pub pairs: heapless::Vec<PairEvidence, MAX_PAIRS>,
}

/// An accepted adapter's figures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acceptance {
    /// The adapter.
    pub adapter: Name,
    /// SHA-256 of the adapter file that was judged (the one [`Request::Ask`] will use).
    pub adapter_sha256: Digest,
    /// Battery questions answered right (class C: answered in the topic's form).
    pub passed: u32,
    /// Battery questions asked.
    pub asked: u32,
    /// Questions asked with a probe suffix.
    pub probes: u32,
    /// Whether the class-C acceptance judged it (answer form and probe; no checker).
    pub class_c: bool,
}

/// One audited canary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditedCanary {
    /// The canary's ID.
    pub id: u32,
    /// Its question (as the model was asked it).
    pub question: Question,
    /// The specialist's answer.
    pub answer: Answer,
    /// Whether the class-A checker passed it.
    pub passed: bool,
}

/// A specialist's Plane B standing on a topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// The specialist.
    pub specialist: Name,
    /// The topic.
    pub topic: Name,
    /// Its reputation (seed §9.9, stake 0), in millionths, at the domain's Plane B time.
    pub reputation_ppm: u32,
    /// Public canaries scored since its last overfit finding.
    pub public_scored: u32,
    /// Of which passed.
    pub public_passed: u32,
    /// Secret-reserve canaries scored since its last overfit finding.
    pub secret_scored: u32,
    /// Of which passed.
    pub secret_passed: u32,
    /// Overfit findings (each slashed it on the topic and restarted the tallies).
    pub overfits: u32,
    /// Audits the domain has applied (all specialists and topics).
    pub audits: u64,
}

/// An overfit finding: the pass rates (in millionths) whose gap slashed the specialist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overfit {
    /// Public pass rate.
    pub public_ppm: u32,
    /// Secret-reserve pass rate.
    pub secret_ppm: u32,
}

/// An applied (and persisted) audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audited {
    /// The audit's number on this tile, from 0.
    pub index: u64,
    /// The pool drawn from.
    pub pool: AuditPool,
    /// The canaries, in draw order.
    pub canaries: heapless::Vec<AuditedCanary, MAX_AUDIT>,
    /// An overfit finding, if this audit made one.
    pub overfit: Option<Overfit>,
    /// The standing after it.
    pub standing: Standing,
}

/// Where a challenge stands (`tileos_verify_service::challenge::Phase`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChallengePhase {
    /// The incumbent serves; the challenger answers beside it, unseen.
    Shadowing,
    /// The challenger serves; the old incumbent answers beside it for the rollback window.
    Promoted,
    /// The promotion held through the window.
    Settled,
    /// The challenger fell short; the incumbent serves.
    Rejected,
    /// The promoted challenger's pass rate fell in the window; the old incumbent serves.
    RolledBack,
}

/// Live answers judged and passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveTally {
    /// Answers the checker judged.
    pub asked: u32,
    /// Of which it passed.
    pub passed: u32,
}

/// A slot's latest challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeState {
    /// The slot.
    pub slot: Name,
    /// The adapter that served it when the challenge started, and its file's SHA-256.
    pub incumbent: Name,
    /// SHA-256 of the incumbent's accepted file.
    pub incumbent_sha256: Digest,
    /// The challenger.
    pub challenger: Name,
    /// SHA-256 of the challenger's accepted file.
    pub challenger_sha256: Digest,
    /// Where it stands.
    pub phase: ChallengePhase,
    /// The adapter answering the slot's questions now.
    pub serving: Name,
    /// Before the decision: the incumbent's and the challenger's live tallies.
    pub shadow: [LiveTally; 2],
    /// Rollback window: the promoted challenger's and the old incumbent's live tallies.
    pub window: [LiveTally; 2],
    /// Ledger size when it started.
    pub started_at: u64,
    /// Ledger size after the question that promoted or rejected the challenger.
    pub decided_at: Option<u64>,
    /// Ledger size after the question that settled or rolled back the promotion.
    pub ended_at: Option<u64>,
}

/// A retrieved fragment and its proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fragment {
    /// The fragment's ID.
    pub id: Digest,
    /// The stored leaf (the signed write's encoding).
    pub leaf: heapless::Vec<u8, MAX_WRITE>,
    /// Its index in the tree.
    pub leaf_index: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// The root the proof leads to.
    pub root: Digest,
    /// The audit path.
    pub path: heapless::Vec<Digest, MAX_FRAGMENT_PROOF>,
}

/// A ledger entry's inclusion proof under a signed tree head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerProof {
    /// The entry.
    pub index: u64,
    /// The tree size.
    pub tree_size: u64,
    /// The head's time stamp, ms since the domain started.
    pub timestamp_ms: u64,
    /// The root.
    pub root: Digest,
    /// The ledger key's Ed25519 signature over the head (RFC 6962 `TreeHeadSignature`).
    pub signature: heapless::Vec<u8, 64>,
    /// The audit path.
    pub path: Path,
}

/// The verify domain's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The routing policy's digest.
    pub policy: Digest,
    /// Its version.
    pub policy_version: u64,
    /// Ledger entries.
    pub ledger_size: u64,
    /// Knowledge fragments.
    pub memory_size: u64,
    /// The knowledge root.
    pub memory_root: Digest,
    /// Adapters accepted.
    pub accepted: heapless::Vec<Name, 8>,
    /// Whether the domain has an inference endpoint.
    pub inference: bool,
    /// Whether the ledger is kept in the store (false: in memory only, and the domain
    /// refuses to log).
    pub persistent: bool,
}

/// Why the verify domain refused a request. Nothing was logged, written or accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Error {
    /// The query could not be routed (the router's error in words, e.g. an unknown topic).
    Route(Text),
    /// A class-A query the checker cannot read.
    NotCheckable(Text),
    /// The answers do not match the route (a specialist not routed, missing or twice).
    Answers(Text),
    /// The class-C gate could not judge the panel.
    Gate(Text),
    /// The knowledge write was refused (the cause in words: malformed field, bad
    /// signature, no grant, replayed sequence…).
    Write(Text),
    /// No such fragment, or its proof does not fit this protocol.
    NoFragment,
    /// No such ledger entry.
    NoEntry(u64),
    /// An offset beyond the entry's end.
    BadOffset {
        /// The entry's length.
        len: u32,
    },
    /// The caller's badge may not use this request.
    NotPermitted {
        /// The caller's badge.
        badge: u64,
    },
    /// The domain has no inference endpoint.
    NoInference,
    /// The inference domain refused or failed (its error in words).
    Inference(Text),
    /// The adapter is not accepted, or the inference domain serves another file than
    /// the accepted one.
    NotAccepted {
        /// The adapter.
        adapter: Name,
    },
    /// The adapter failed acceptance (the finding in words); it stays unusable.
    Rejected(Text),
    /// The store could not keep the entry or write, so nothing was acknowledged.
    StoreUnavailable,
    /// The audit or standing was refused (the cause in words: an unknown specialist, a
    /// topic it does not serve, a count out of range, no canary left).
    Audit(Text),
    /// The challenge was refused (the cause in words: no such slot, a slot of a topic no
    /// checker judges, the challenger serving already, a challenge still running, no
    /// challenge of the slot).
    Challenge(Text),
    /// The adapter's signed bundle manifest, as the inference domain passed it on,
    /// contradicts the routing policy's entry of a specialist it serves
    /// (`tileos_verify_service::provenance`): not accepted, not used.
    ProvenanceMismatch {
        /// The specialist.
        specialist: Name,
        /// What disagrees: `lineage` or `provenance`.
        field: Name,
        /// The policy's value.
        policy: Name,
        /// The manifest's value; `(none)` when it names no provenance (or the inference
        /// domain carried no claim), `(several)` when it names more than one.
        manifest: Text,
    },
}

/// What the verify domain answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
// Answers are encoded into one message at once, never kept in collections.
#[allow(clippy::large_enum_variant)]
pub enum Response {
    /// A judged, logged answer.
    Answered(Answered),
    /// An accepted adapter.
    Accepted(Acceptance),
    /// A knowledge write applied (and persisted).
    Written {
        /// The fragment's ID.
        id: Digest,
        /// Fragments now.
        size: u64,
        /// The root now.
        root: Digest,
    },
    /// A fragment.
    Fragment(Fragment),
    /// A ledger entry chunk.
    EntryChunk {
        /// The entry's length.
        len: u32,
        /// The bytes from the offset.
        bytes: heapless::Vec<u8, ENTRY_CHUNK>,
    },
    /// A ledger proof.
    Proof(LedgerProof),
    /// The state.
    Status(Status),
    /// An applied audit.
    Audited(Audited),
    /// A standing.
    Standing(Standing),
    /// A challenge's state.
    Challenge(ChallengeState),
    /// An applied class-C agreement audit.
    PanelAudited(PanelAudited),
    /// Refused.
    Refused(Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MESSAGE, PAYLOAD_WORDS, decode, encode};

    fn roundtrip<T: Serialize + serde::de::DeserializeOwned + PartialEq + core::fmt::Debug>(value: T) {
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(&value, &mut words).unwrap_or_else(|e| panic!("{value:?}: {e:?}"));
        assert_eq!(decode::<T>(MESSAGE, &words[..length]), Ok(value));
    }

    fn full<const N: usize>() -> heapless::String<N> {
        let mut s = heapless::String::new();
        while s.push('x').is_ok() {}
        s
    }

    fn pair() -> PairEvidence {
        PairEvidence { a: u8::MAX, b: u8::MAX, informative: u32::MAX, dependent: u32::MAX, dependence_ppm: u32::MAX }
    }

    #[test]
    fn the_largest_messages_fit_one_message() {
        let answers = (0..MAX_PANEL).map(|_| GivenAnswer { specialist: full(), answer: full() }).collect();
        roundtrip(Request::Judge { query: full(), topic: Some(full()), answers });
        roundtrip(Request::Write { bytes: heapless::Vec::from_slice(&[0xff; MAX_WRITE]).unwrap() });
        roundtrip(Response::Answered(Answered {
            answer: full(),
            topic: full(),
            tier: 3,
            specialists: (0..MAX_PANEL).map(|_| full()).collect(),
            verdict: VerdictCode::VerifiedByConsensus,
            verdict_text: full(),
            index: u64::MAX,
            entry_sha256: [0xff; 32],
            ledger_size: u64::MAX,
            policy: [0xff; 32],
            memory_root: [0xff; 32],
            memory_size: u64::MAX,
            panel: (0..MAX_PANEL).map(|_| Vote { answer: full(), weight_ppm: u32::MAX }).collect(),
            pairs: (0..MAX_PAIRS).map(|_| pair()).collect(),
            consensus: Some(Consensus { effective_voters_ppm: u32::MAX, share_ppm: u32::MAX }),
        }));
        roundtrip(Request::PanelAudit { topic: full(), specialists: (0..MAX_PANEL).map(|_| full()).collect(), count: u8::MAX });
        roundtrip(Response::PanelAudited(PanelAudited {
            index: u64::MAX,
            specialists: (0..MAX_PANEL).map(|_| full()).collect(),
            canaries: (0..MAX_PANEL_AUDIT)
                .map(|_| PanelCanary { id: u32::MAX, question: full(), answers: (0..MAX_PANEL).map(|_| full()).collect() })
                .collect(),
            pairs: (0..MAX_PAIRS).map(|_| pair()).collect(),
        }));
        let path: Path = (0..MAX_PROOF).map(|_| [0xff; 32]).collect();
        roundtrip(Response::Fragment(Fragment {
            id: [0xff; 32],
            leaf: heapless::Vec::from_slice(&[0xff; MAX_WRITE]).unwrap(),
            leaf_index: u64::MAX,
            tree_size: u64::MAX,
            root: [0xff; 32],
            path: (0..MAX_FRAGMENT_PROOF).map(|_| [0xff; 32]).collect(),
        }));
        roundtrip(Response::Proof(LedgerProof {
            index: u64::MAX,
            tree_size: u64::MAX,
            timestamp_ms: u64::MAX,
            root: [0xff; 32],
            signature: heapless::Vec::from_slice(&[0xff; 64]).unwrap(),
            path,
        }));
        roundtrip(Response::EntryChunk { len: u32::MAX, bytes: heapless::Vec::from_slice(&[0xff; ENTRY_CHUNK]).unwrap() });
        roundtrip(Response::Status(Status {
            policy: [0xff; 32],
            policy_version: u64::MAX,
            ledger_size: u64::MAX,
            memory_size: u64::MAX,
            memory_root: [0xff; 32],
            accepted: (0..8).map(|_| full()).collect(),
            inference: true,
            persistent: true,
        }));
        roundtrip(Request::Audit { specialist: full(), topic: full(), pool: AuditPool::Secret, count: u8::MAX });
        let standing = Standing {
            specialist: full(),
            topic: full(),
            reputation_ppm: u32::MAX,
            public_scored: u32::MAX,
            public_passed: u32::MAX,
            secret_scored: u32::MAX,
            secret_passed: u32::MAX,
            overfits: u32::MAX,
            audits: u64::MAX,
        };
        roundtrip(Response::Audited(Audited {
            index: u64::MAX,
            pool: AuditPool::Secret,
            canaries: (0..MAX_AUDIT).map(|_| AuditedCanary { id: u32::MAX, question: full(), answer: full(), passed: true }).collect(),
            overfit: Some(Overfit { public_ppm: u32::MAX, secret_ppm: u32::MAX }),
            standing: standing.clone(),
        }));
        roundtrip(Response::Standing(standing));
        roundtrip(Response::Refused(Error::Audit(full())));
        roundtrip(Response::Refused(Error::Route(full())));
        roundtrip(Request::Challenge { slot: full(), challenger: full() });
        let tally = LiveTally { asked: u32::MAX, passed: u32::MAX };
        roundtrip(Response::Challenge(ChallengeState {
            slot: full(),
            incumbent: full(),
            incumbent_sha256: [0xff; 32],
            challenger: full(),
            challenger_sha256: [0xff; 32],
            phase: ChallengePhase::RolledBack,
            serving: full(),
            shadow: [tally; 2],
            window: [tally; 2],
            started_at: u64::MAX,
            decided_at: Some(u64::MAX),
            ended_at: Some(u64::MAX),
        }));
        roundtrip(Response::Refused(Error::Challenge(full())));
    }
}
