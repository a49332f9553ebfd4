//! The ledger (seed `002_…`, "Live verification gate" and §9.4): every answered query's tuple
//! (query, specialists, answer, memory root, verification result) — plus what is needed to
//! re-run its routing (topic, tier, the routing policy's digest and the requester's choice) —
//! encoded canonically and appended to an RFC 6962 log (`tileos-update-log`). Anyone holding a
//! signed tree head checks an entry with [`verify_logged`] on a host.
//!
//! The log holds two kinds of entry, told apart by the first byte (the kind and format
//! version): an answer ([`LedgerEntry`], kind 1) and a step of an adapter challenge
//! ([`ChallengeEntry`], kind 2: started, promoted, rejected, settled, rolled back, with the
//! evidence that decided it). [`Logged::decode`] decodes either; [`verify_logged_any`]
//! checks either against a signed tree head.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use tileos_update_log::{Hash, InclusionProof, LogError, ProofError, SignedTreeHead, SigningKey, TreeHeadError, UpdateLog, VerifyingKey};

use crate::gate::Verdict;
use crate::rational::Rational;
use crate::tier::Tier;
use crate::wire::{Reader, WireError, Writer};

/// The longest query, in bytes.
pub const MAX_QUERY_LEN: usize = 1024;
/// The longest answer, in bytes.
pub const MAX_ANSWER_LEN: usize = 1024;
/// The longest name (topic, specialist, base, adapter, lineage, provenance), in bytes.
pub const MAX_NAME_LEN: usize = 32;
/// The longest encoded requester's choice, in bytes.
pub const MAX_REQUEST_LEN: usize = 256;
/// The most specialists one entry names.
pub const MAX_SPECIALISTS: usize = 8;
/// Format byte of an encoded entry.
const ENTRY_FORMAT: u8 = 1;
/// Format byte of an encoded challenge step.
const CHALLENGE_FORMAT: u8 = 2;

/// A specialist as routed: base + adapter, with the lineage and provenance its manifest
/// declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecialistRef {
    /// The specialist's name in the routing policy.
    pub name: String,
    /// The frozen base model.
    pub base: String,
    /// The topic adapter.
    pub adapter: String,
    /// The base-model lineage (for independence).
    pub lineage: String,
    /// The provenance class (operator/jurisdiction) the tier rules refer to.
    pub provenance: String,
}

/// One ledger entry.
#[derive(Clone, Debug, PartialEq)]
pub struct LedgerEntry {
    /// The query as asked.
    pub query: String,
    /// The topic it was routed to.
    pub topic: String,
    /// The topic's trust tier.
    pub tier: Tier,
    /// SHA-256 of the signed routing policy used.
    pub policy: Hash,
    /// The requester's choice (the router's canonical encoding; empty = default routing).
    pub request: Vec<u8>,
    /// The specialists that answered, in routing order.
    pub specialists: Vec<SpecialistRef>,
    /// The answer returned.
    pub answer: String,
    /// The knowledge (Plane H) root the answer was given against.
    pub memory_root: Hash,
    /// The number of fragments under that root.
    pub memory_size: u64,
    /// The verification result.
    pub verdict: Verdict,
}

/// Why an entry could not be logged or checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedgerError {
    /// This field exceeds its limit (or too many specialists).
    TooLong(&'static str),
    /// This floating-point field of the verdict is not finite.
    NotFinite(&'static str),
    /// This field is inconsistent (a tally passing more answers than it judged).
    Inconsistent(&'static str),
    /// The entry bytes do not decode.
    Malformed(WireError),
    /// The log refused the entry.
    Log(LogError),
    /// The inclusion proof does not lead to the tree head's root.
    Proof(ProofError),
    /// The tree head's signature does not verify under the ledger key.
    TreeHead(TreeHeadError),
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong(field) => write!(f, "ledger field '{field}' exceeds its limit"),
            Self::NotFinite(field) => write!(f, "ledger field '{field}' is not finite"),
            Self::Inconsistent(field) => write!(f, "ledger field '{field}' is inconsistent"),
            Self::Malformed(e) => write!(f, "ledger entry: {e}"),
            Self::Log(e) => write!(f, "ledger log: {e}"),
            Self::Proof(e) => write!(f, "ledger inclusion proof: {e}"),
            Self::TreeHead(e) => write!(f, "ledger tree head: {e:?}"),
        }
    }
}

fn check_len(s: &str, max: usize, field: &'static str) -> Result<(), LedgerError> {
    if s.len() > max { Err(LedgerError::TooLong(field)) } else { Ok(()) }
}

fn finite(v: f64, field: &'static str) -> Result<f64, LedgerError> {
    if v.is_finite() { Ok(v) } else { Err(LedgerError::NotFinite(field)) }
}

fn encode_verdict(w: &mut Writer<'_>, v: &Verdict) -> Result<(), LedgerError> {
    match *v {
        Verdict::VerifiedByChecker => w.u8(1),
        Verdict::VerifiedByConsensus { effective_voters, share } => {
            w.u8(2);
            w.u64(finite(effective_voters, "effective_voters")?.to_bits());
            w.u64(finite(share, "share")?.to_bits());
        }
        Verdict::Refuted(expected) => {
            w.u8(3);
            w.raw(&expected.numer().to_be_bytes());
            w.raw(&expected.denom().to_be_bytes());
        }
        Verdict::NoQuorum { share } => {
            w.u8(4);
            w.u64(finite(share, "share")?.to_bits());
        }
        Verdict::Correlated { effective_voters } => {
            w.u8(5);
            w.u64(finite(effective_voters, "effective_voters")?.to_bits());
        }
        Verdict::PanelNotDiverse => w.u8(6),
        Verdict::NeedsHuman => w.u8(7),
    }
    Ok(())
}

fn decode_f64(r: &mut Reader<'_>, field: &'static str) -> Result<f64, WireError> {
    let v = f64::from_bits(r.u64(field)?);
    if v.is_finite() { Ok(v) } else { Err(WireError::BadValue(field)) }
}

fn decode_verdict(r: &mut Reader<'_>) -> Result<Verdict, WireError> {
    Ok(match r.u8("verdict")? {
        1 => Verdict::VerifiedByChecker,
        2 => Verdict::VerifiedByConsensus { effective_voters: decode_f64(r, "effective_voters")?, share: decode_f64(r, "share")? },
        3 => {
            let (num, den) = (i128::from_be_bytes(r.array("expected")?), i128::from_be_bytes(r.array("expected")?));
            let v = Rational::new(num, den).map_err(|_| WireError::BadValue("expected"))?;
            // Only the reduced form is canonical.
            if (v.numer(), v.denom()) != (num, den) {
                return Err(WireError::BadValue("expected"));
            }
            Verdict::Refuted(v)
        }
        4 => Verdict::NoQuorum { share: decode_f64(r, "share")? },
        5 => Verdict::Correlated { effective_voters: decode_f64(r, "effective_voters")? },
        6 => Verdict::PanelNotDiverse,
        7 => Verdict::NeedsHuman,
        _ => return Err(WireError::BadValue("verdict")),
    })
}

impl LedgerEntry {
    /// The canonical encoding, after checking every limit.
    pub fn encode(&self) -> Result<Vec<u8>, LedgerError> {
        check_len(&self.query, MAX_QUERY_LEN, "query")?;
        check_len(&self.answer, MAX_ANSWER_LEN, "answer")?;
        check_len(&self.topic, MAX_NAME_LEN, "topic")?;
        if self.request.len() > MAX_REQUEST_LEN {
            return Err(LedgerError::TooLong("request"));
        }
        if self.specialists.len() > MAX_SPECIALISTS {
            return Err(LedgerError::TooLong("specialists"));
        }
        let mut out = Vec::new();
        let mut w = Writer(&mut out);
        w.u8(ENTRY_FORMAT);
        w.bytes(self.query.as_bytes());
        w.bytes(self.topic.as_bytes());
        w.u8(self.tier.code());
        w.raw(&self.policy);
        w.bytes(&self.request);
        w.u8(self.specialists.len() as u8);
        for s in &self.specialists {
            for (value, field) in
                [(&s.name, "name"), (&s.base, "base"), (&s.adapter, "adapter"), (&s.lineage, "lineage"), (&s.provenance, "provenance")]
            {
                check_len(value, MAX_NAME_LEN, field)?;
                w.bytes(value.as_bytes());
            }
        }
        w.bytes(self.answer.as_bytes());
        w.raw(&self.memory_root);
        w.u64(self.memory_size);
        encode_verdict(&mut w, &self.verdict)?;
        Ok(out)
    }

    /// Decodes an entry; only the canonical encoding is accepted.
    pub fn decode(bytes: &[u8]) -> Result<LedgerEntry, WireError> {
        let mut r = Reader { s: bytes };
        if r.u8("format")? != ENTRY_FORMAT {
            return Err(WireError::BadValue("format"));
        }
        let query = r.string(MAX_QUERY_LEN, "query")?;
        let topic = r.string(MAX_NAME_LEN, "topic")?;
        let tier = Tier::from_code(r.u8("tier")?).ok_or(WireError::BadValue("tier"))?;
        let policy = r.array("policy")?;
        let request = r.bytes(MAX_REQUEST_LEN, "request")?.to_vec();
        let count = usize::from(r.u8("specialists")?);
        if count > MAX_SPECIALISTS {
            return Err(WireError::TooLong("specialists"));
        }
        let mut specialists = Vec::with_capacity(count);
        for _ in 0..count {
            specialists.push(SpecialistRef {
                name: r.string(MAX_NAME_LEN, "name")?,
                base: r.string(MAX_NAME_LEN, "base")?,
                adapter: r.string(MAX_NAME_LEN, "adapter")?,
                lineage: r.string(MAX_NAME_LEN, "lineage")?,
                provenance: r.string(MAX_NAME_LEN, "provenance")?,
            });
        }
        let answer = r.string(MAX_ANSWER_LEN, "answer")?;
        let memory_root = r.array("memory_root")?;
        let memory_size = r.u64("memory_size")?;
        let verdict = decode_verdict(&mut r)?;
        r.finish()?;
        Ok(LedgerEntry { query, topic, tier, policy, request, specialists, answer, memory_root, memory_size, verdict })
    }
}

/// A step of an adapter challenge that the ledger records (docs/inference.md, "Adapters
/// as slot challengers"); the per-question tallies between steps are not entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeStep {
    /// The challenger starts answering beside the serving adapter.
    Started,
    /// The challenger serves the slot; the old incumbent is the rollback shadow.
    Promoted,
    /// The challenger fell short; it never served.
    Rejected,
    /// The promoted challenger held through the rollback window; the old digest is dropped.
    Settled,
    /// The promoted challenger fell short in the window; the old incumbent serves again.
    RolledBack,
}

impl ChallengeStep {
    fn code(self) -> u8 {
        match self {
            Self::Started => 1,
            Self::Promoted => 2,
            Self::Rejected => 3,
            Self::Settled => 4,
            Self::RolledBack => 5,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::Started,
            2 => Self::Promoted,
            3 => Self::Rejected,
            4 => Self::Settled,
            5 => Self::RolledBack,
            _ => return None,
        })
    }
}

/// Live answers judged for one adapter, and how many the class-A checker passed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Answers judged.
    pub asked: u32,
    /// Of which passed (never more than `asked`).
    pub passed: u32,
}

/// An adapter file named by a challenge step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterRef {
    /// The adapter's name in the inference domain's catalog.
    pub name: String,
    /// SHA-256 of the accepted file.
    pub digest: Hash,
}

/// A challenge step's entry: the slot, both adapter files, the step and the evidence
/// counts that decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeEntry {
    /// The slot: an adapter name of the routing policy.
    pub slot: String,
    /// The adapter that served the slot when the challenge started.
    pub incumbent: AdapterRef,
    /// The challenger.
    pub challenger: AdapterRef,
    /// The step.
    pub step: ChallengeStep,
    /// Shadowing tallies: incumbent, challenger.
    pub shadow: [Evidence; 2],
    /// Rollback-window tallies: promoted challenger, old incumbent.
    pub window: [Evidence; 2],
}

impl ChallengeEntry {
    /// The canonical encoding, after checking the names and that no tally passes more
    /// answers than it judged.
    pub fn encode(&self) -> Result<Vec<u8>, LedgerError> {
        for (value, field) in [(&self.slot, "slot"), (&self.incumbent.name, "incumbent"), (&self.challenger.name, "challenger")] {
            check_len(value, MAX_NAME_LEN, field)?;
        }
        if self.shadow.iter().chain(&self.window).any(|e| e.passed > e.asked) {
            return Err(LedgerError::Inconsistent("evidence"));
        }
        let mut out = Vec::new();
        let mut w = Writer(&mut out);
        w.u8(CHALLENGE_FORMAT);
        w.bytes(self.slot.as_bytes());
        for a in [&self.incumbent, &self.challenger] {
            w.bytes(a.name.as_bytes());
            w.raw(&a.digest);
        }
        w.u8(self.step.code());
        for e in self.shadow.iter().chain(&self.window) {
            w.u32(e.asked);
            w.u32(e.passed);
        }
        Ok(out)
    }

    /// Decodes a challenge step; only the canonical encoding is accepted.
    pub fn decode(bytes: &[u8]) -> Result<ChallengeEntry, WireError> {
        let mut r = Reader { s: bytes };
        if r.u8("format")? != CHALLENGE_FORMAT {
            return Err(WireError::BadValue("format"));
        }
        let slot = r.string(MAX_NAME_LEN, "slot")?;
        let incumbent = AdapterRef { name: r.string(MAX_NAME_LEN, "incumbent")?, digest: r.array("incumbent digest")? };
        let challenger = AdapterRef { name: r.string(MAX_NAME_LEN, "challenger")?, digest: r.array("challenger digest")? };
        let step = ChallengeStep::from_code(r.u8("step")?).ok_or(WireError::BadValue("step"))?;
        let mut tallies = [Evidence::default(); 4];
        for t in &mut tallies {
            *t = Evidence { asked: r.u32("evidence")?, passed: r.u32("evidence")? };
            if t.passed > t.asked {
                return Err(WireError::BadValue("evidence"));
            }
        }
        r.finish()?;
        Ok(ChallengeEntry { slot, incumbent, challenger, step, shadow: [tallies[0], tallies[1]], window: [tallies[2], tallies[3]] })
    }
}

/// A decoded ledger entry of either kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Logged {
    /// An answered query's tuple.
    Answer(LedgerEntry),
    /// A step of an adapter challenge.
    Challenge(ChallengeEntry),
}

impl Logged {
    /// Decodes an entry of either kind by its first byte; an unknown kind is
    /// `BadValue("kind")`, an empty input `Truncated("kind")`.
    pub fn decode(bytes: &[u8]) -> Result<Logged, WireError> {
        match bytes.first() {
            None => Err(WireError::Truncated("kind")),
            Some(&ENTRY_FORMAT) => LedgerEntry::decode(bytes).map(Logged::Answer),
            Some(&CHALLENGE_FORMAT) => ChallengeEntry::decode(bytes).map(Logged::Challenge),
            Some(_) => Err(WireError::BadValue("kind")),
        }
    }

    /// The canonical encoding of either kind.
    pub fn encode(&self) -> Result<Vec<u8>, LedgerError> {
        match self {
            Logged::Answer(e) => e.encode(),
            Logged::Challenge(e) => e.encode(),
        }
    }
}

/// The append-only ledger: an RFC 6962 log of encoded entries.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    log: UpdateLog,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Encodes and appends an entry; returns its index.
    pub fn append(&mut self, entry: &LedgerEntry) -> Result<u64, LedgerError> {
        self.log.append_entry(entry.encode()?).map_err(LedgerError::Log)
    }

    /// Encodes and appends an entry of either kind; returns its index.
    pub fn append_logged(&mut self, entry: &Logged) -> Result<u64, LedgerError> {
        self.log.append_entry(entry.encode()?).map_err(LedgerError::Log)
    }

    /// The stored bytes of entry `index`.
    pub fn entry(&self, index: u64) -> Option<&[u8]> {
        self.log.entry(index)
    }

    /// The inclusion proof of entry `index` in the current tree.
    pub fn prove(&self, index: u64) -> Result<InclusionProof, LedgerError> {
        self.log.prove_inclusion(index).map_err(LedgerError::Log)
    }

    /// The current tree head, signed with the ledger key.
    pub fn signed_head(&self, timestamp_ms: u64, key: &SigningKey) -> SignedTreeHead {
        self.log.signed_tree_head(timestamp_ms, key)
    }

    /// The number of entries.
    pub fn size(&self) -> u64 {
        self.log.size()
    }
}

/// The host check of a logged entry: the tree head's signature under the ledger key, the
/// entry's inclusion proof against that head, then the entry's decoding.
pub fn verify_logged(
    bytes: &[u8],
    proof: &InclusionProof,
    head: &SignedTreeHead,
    ledger_key: &VerifyingKey,
) -> Result<LedgerEntry, LedgerError> {
    head.verify(ledger_key).map_err(LedgerError::TreeHead)?;
    proof.verify(bytes, &head.head).map_err(LedgerError::Proof)?;
    LedgerEntry::decode(bytes).map_err(LedgerError::Malformed)
}

/// [`verify_logged`] for an entry of either kind.
pub fn verify_logged_any(
    bytes: &[u8],
    proof: &InclusionProof,
    head: &SignedTreeHead,
    ledger_key: &VerifyingKey,
) -> Result<Logged, LedgerError> {
    head.verify(ledger_key).map_err(LedgerError::TreeHead)?;
    proof.verify(bytes, &head.head).map_err(LedgerError::Proof)?;
    Logged::decode(bytes).map_err(LedgerError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn spec(name: &str, lineage: &str, provenance: &str) -> SpecialistRef {
        SpecialistRef {
            name: name.into(),
            base: "tiny-base".into(),
            adapter: alloc::format!("{name}-lora"),
            lineage: lineage.into(),
            provenance: provenance.into(),
        }
    }

    fn entry(verdict: Verdict) -> LedgerEntry {
        LedgerEntry {
            query: "what is 17 * 23".into(),
            topic: "arith".into(),
            tier: Tier::T1,
            policy: [3; 32],
            request: vec![],
            specialists: vec![spec("calc-a", "qwen", "cn"), spec("calc-b", "mistral", "eu")],
            answer: "391".into(),
            memory_root: [5; 32],
            memory_size: 2,
            verdict,
        }
    }

    #[test]
    fn every_verdict_round_trips_canonically() {
        for v in [
            Verdict::VerifiedByChecker,
            Verdict::VerifiedByConsensus { effective_voters: 2.5, share: 0.75 },
            Verdict::Refuted(Rational::new(-7, 3).unwrap()),
            Verdict::NoQuorum { share: 0.4 },
            Verdict::Correlated { effective_voters: 1.0 },
            Verdict::PanelNotDiverse,
            Verdict::NeedsHuman,
        ] {
            let e = entry(v);
            let bytes = e.encode().unwrap();
            assert_eq!(LedgerEntry::decode(&bytes).unwrap(), e);
            assert_eq!(LedgerEntry::decode(&bytes).unwrap().encode().unwrap(), bytes);
        }
    }

    #[test]
    fn logged_entries_verify_on_the_host_and_tampering_fails() {
        let key = SigningKey::from_bytes(&[4; 32]);
        let mut ledger = Ledger::new();
        let mut indices = vec![];
        for i in 0..5u64 {
            let mut e = entry(Verdict::VerifiedByChecker);
            e.memory_size = i;
            indices.push(ledger.append(&e).unwrap());
        }
        let head = ledger.signed_head(1_000, &key);
        let bytes = ledger.entry(3).unwrap().to_vec();
        let proof = ledger.prove(3).unwrap();
        assert_eq!(verify_logged(&bytes, &proof, &head, &key.verifying_key()).unwrap().memory_size, 3);
        let mut tampered = bytes.clone();
        let at = tampered.len() - 10;
        tampered[at] ^= 1;
        assert_eq!(verify_logged(&tampered, &proof, &head, &key.verifying_key()), Err(LedgerError::Proof(ProofError::RootMismatch)));
        let other = SigningKey::from_bytes(&[5; 32]).verifying_key();
        assert!(matches!(verify_logged(&bytes, &proof, &head, &other), Err(LedgerError::TreeHead(_))));
        let mut forged = head;
        forged.head.root_hash[0] ^= 1;
        assert!(matches!(verify_logged(&bytes, &proof, &forged, &key.verifying_key()), Err(LedgerError::TreeHead(_))));
        assert_eq!(ledger.prove(5), Err(LedgerError::Log(LogError::IndexOutOfRange)));
    }

    #[test]
    fn limits_and_malformed_entries_get_precise_errors() {
        let mut e = entry(Verdict::NeedsHuman);
        e.query = "q".repeat(MAX_QUERY_LEN + 1);
        assert_eq!(e.encode(), Err(LedgerError::TooLong("query")));
        let mut e = entry(Verdict::NeedsHuman);
        e.specialists[1].provenance = "p".repeat(MAX_NAME_LEN + 1);
        assert_eq!(e.encode(), Err(LedgerError::TooLong("provenance")));
        let mut e = entry(Verdict::NeedsHuman);
        e.specialists = vec![spec("a", "b", "c"); MAX_SPECIALISTS + 1];
        assert_eq!(e.encode(), Err(LedgerError::TooLong("specialists")));
        let e = entry(Verdict::NoQuorum { share: f64::NAN });
        assert_eq!(e.encode(), Err(LedgerError::NotFinite("share")));

        let good = entry(Verdict::Refuted(Rational::int(391))).encode().unwrap();
        assert_eq!(LedgerEntry::decode(&good[..good.len() - 1]), Err(WireError::Truncated("expected")));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(LedgerEntry::decode(&trailing), Err(WireError::Trailing));
        // A non-reduced fraction is not the canonical encoding of the same verdict.
        let mut unreduced = good[..good.len() - 32].to_vec();
        unreduced.extend_from_slice(&2i128.to_be_bytes());
        unreduced.extend_from_slice(&2i128.to_be_bytes());
        assert_eq!(LedgerEntry::decode(&unreduced), Err(WireError::BadValue("expected")));
        let mut verdict = entry(Verdict::NeedsHuman).encode().unwrap();
        *verdict.last_mut().unwrap() = 99;
        assert_eq!(LedgerEntry::decode(&verdict), Err(WireError::BadValue("verdict")));
        let mut tier = good.clone();
        tier[1 + 4 + 15 + 4 + 5] = 0;
        assert_eq!(LedgerEntry::decode(&tier), Err(WireError::BadValue("tier")));
    }

    fn step(step: ChallengeStep) -> ChallengeEntry {
        ChallengeEntry {
            slot: "t1".into(),
            incumbent: AdapterRef { name: "t1".into(), digest: [7; 32] },
            challenger: AdapterRef { name: "t1b".into(), digest: [8; 32] },
            step,
            shadow: [Evidence { asked: 6, passed: 1 }, Evidence { asked: 6, passed: 6 }],
            window: [Evidence { asked: 6, passed: 0 }, Evidence { asked: 6, passed: 6 }],
        }
    }

    #[test]
    fn challenge_steps_round_trip_and_check_beside_answers() {
        let key = SigningKey::from_bytes(&[4; 32]);
        let mut ledger = Ledger::new();
        ledger.append(&entry(Verdict::VerifiedByChecker)).unwrap();
        let all =
            [ChallengeStep::Started, ChallengeStep::Promoted, ChallengeStep::Rejected, ChallengeStep::Settled, ChallengeStep::RolledBack];
        for s in all {
            let e = step(s);
            let bytes = e.encode().unwrap();
            assert_eq!(bytes[0], CHALLENGE_FORMAT);
            assert_eq!(ChallengeEntry::decode(&bytes).unwrap(), e);
            assert_eq!(Logged::decode(&bytes).unwrap(), Logged::Challenge(e.clone()));
            assert_eq!(Logged::decode(&bytes).unwrap().encode().unwrap(), bytes);
            ledger.append_logged(&Logged::Challenge(e)).unwrap();
        }
        let head = ledger.signed_head(1_000, &key);
        let vk = key.verifying_key();
        for i in 0..ledger.size() {
            let got = verify_logged_any(ledger.entry(i).unwrap(), &ledger.prove(i).unwrap(), &head, &vk).unwrap();
            match (i, got) {
                (0, Logged::Answer(a)) => assert_eq!(a.answer, "391"),
                (i, Logged::Challenge(c)) => assert_eq!(c.step, all[i as usize - 1]),
                (i, other) => panic!("entry {i}: {other:?}"),
            }
        }
        // The answers-only check refuses a challenge step by its format byte.
        let promoted = ledger.entry(2).unwrap();
        assert_eq!(
            verify_logged(promoted, &ledger.prove(2).unwrap(), &head, &vk),
            Err(LedgerError::Malformed(WireError::BadValue("format")))
        );
        assert_eq!(LedgerEntry::decode(promoted), Err(WireError::BadValue("format")));
        assert_eq!(ChallengeEntry::decode(ledger.entry(0).unwrap()), Err(WireError::BadValue("format")));
        // A forged step (the challenger's digest changed) fails the inclusion proof.
        let mut forged = promoted.to_vec();
        forged[1 + 4 + 2 + 4 + 2 + 32 + 4 + 3] ^= 1;
        assert_eq!(ChallengeEntry::decode(&forged).unwrap().challenger.digest[0], 8 ^ 1);
        assert_eq!(verify_logged_any(&forged, &ledger.prove(2).unwrap(), &head, &vk), Err(LedgerError::Proof(ProofError::RootMismatch)));
        assert_eq!(ledger.prove(ledger.size()), Err(LedgerError::Log(LogError::IndexOutOfRange)));
        assert!(ledger.entry(ledger.size()).is_none());
    }

    #[test]
    fn malformed_challenge_steps_get_precise_errors() {
        let good = step(ChallengeStep::Promoted).encode().unwrap();
        assert_eq!(Logged::decode(&[]), Err(WireError::Truncated("kind")));
        let mut unknown = good.clone();
        unknown[0] = 3;
        assert_eq!(Logged::decode(&unknown), Err(WireError::BadValue("kind")));
        unknown[0] = 0;
        assert_eq!(Logged::decode(&unknown), Err(WireError::BadValue("kind")));
        assert_eq!(Logged::decode(&good[..good.len() - 1]), Err(WireError::Truncated("evidence")));
        assert_eq!(Logged::decode(&good[..1]), Err(WireError::Truncated("slot")));
        assert_eq!(Logged::decode(&good[..5 + 2 + 4 + 2 + 10]), Err(WireError::Truncated("incumbent digest")));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(Logged::decode(&trailing), Err(WireError::Trailing));
        let step_at = 1 + 4 + 2 + 4 + 2 + 32 + 4 + 3 + 32;
        let mut bad_step = good.clone();
        bad_step[step_at] = 0;
        assert_eq!(Logged::decode(&bad_step), Err(WireError::BadValue("step")));
        bad_step[step_at] = 6;
        assert_eq!(Logged::decode(&bad_step), Err(WireError::BadValue("step")));
        // A tally that passes more answers than it judged (challenger: passed 7 of 6).
        let mut inflated = good.clone();
        inflated[step_at + 1 + 8 + 7] = 7;
        assert_eq!(Logged::decode(&inflated), Err(WireError::BadValue("evidence")));
        // A slot name claiming more bytes than the limit, or than the input holds.
        let mut oversized = good.clone();
        oversized[1..5].copy_from_slice(&(MAX_NAME_LEN as u32 + 1).to_be_bytes());
        assert_eq!(Logged::decode(&oversized), Err(WireError::TooLong("slot")));
        oversized[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Logged::decode(&oversized), Err(WireError::TooLong("slot")));
        let mut e = step(ChallengeStep::Started);
        e.challenger.name = "c".repeat(MAX_NAME_LEN + 1);
        assert_eq!(e.encode(), Err(LedgerError::TooLong("challenger")));
        let mut e = step(ChallengeStep::Started);
        e.window[1] = Evidence { asked: 1, passed: 2 };
        assert_eq!(e.encode(), Err(LedgerError::Inconsistent("evidence")));
    }
}
