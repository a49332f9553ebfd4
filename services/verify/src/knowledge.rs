//! Plane H, memory integrity (seed `002_…`, "Verification architecture"): knowledge fragments
//! content-hashed into an RFC 6962 Merkle tree whose root commits the whole knowledge state.
//!
//! - A [`Fragment`] (topic, tier, contributor key, sequence number, content) has the ID
//!   `SHA-256(encoding)`. It is written as a [`SignedWrite`]: the fragment plus the
//!   contributor's Ed25519 signature over `WRITE_DOMAIN ‖ encoding` (checked with
//!   `verify_strict`).
//! - A [`WritePolicy`] grants contributors topics and tiers; a write outside its grant, with a
//!   bad signature, or with a sequence number other than the contributor's next one
//!   (replayed or skipped) is refused with a [`WriteError`] naming the cause.
//! - Each accepted write's encoding is one leaf of a `tileos-update-log` tree, so the root is
//!   the RFC 6962 hash of every accepted write in order. [`KnowledgeStore::retrieve`] returns
//!   the matching leaves with their inclusion proofs; [`verify_retrieved`] is the consumer's
//!   check (the proof against the root it trusts, then the contributor's signature), run
//!   without the store and without re-running any model.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use tileos_update_log::{Hash, InclusionProof, LogError, ProofError, TreeHead, UpdateLog, verify_inclusion};

use crate::tier::Tier;
use crate::wire::{Reader, WireError, Writer};

/// The longest topic name, in bytes.
pub const MAX_TOPIC_LEN: usize = 64;
/// The longest fragment content, in bytes (a signed write then fits one log entry).
pub const MAX_CONTENT_LEN: usize = 3072;
/// Domain separation prefix of the signed bytes of a write.
pub const WRITE_DOMAIN: &[u8] = b"tileos-knowledge-write-v1\0";
/// Format byte of an encoded fragment.
const FRAGMENT_FORMAT: u8 = 1;

/// A content-hash fragment ID: SHA-256 of the fragment's encoding.
pub type FragmentId = [u8; 32];

/// One knowledge fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// The topic it belongs to.
    pub topic: String,
    /// The tier it is written for.
    pub tier: Tier,
    /// The contributor's Ed25519 public key.
    pub contributor: [u8; 32],
    /// The contributor's write counter: 0 for its first write, then one more each time.
    pub seq: u64,
    /// The knowledge itself.
    pub content: Vec<u8>,
}

/// A fragment with its contributor's signature: what is written and what is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedWrite {
    /// The fragment.
    pub fragment: Fragment,
    /// Ed25519 signature over [`WRITE_DOMAIN`] followed by the fragment's encoding.
    pub signature: [u8; 64],
}

impl Fragment {
    /// The canonical encoding (format byte, topic, tier, contributor, seq, content).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.content.len() + self.topic.len() + 56);
        let mut w = Writer(&mut out);
        w.u8(FRAGMENT_FORMAT);
        w.bytes(self.topic.as_bytes());
        w.u8(self.tier.code());
        w.raw(&self.contributor);
        w.u64(self.seq);
        w.bytes(&self.content);
        out
    }

    /// The fragment ID: SHA-256 of [`Fragment::encode`].
    pub fn id(&self) -> FragmentId {
        Sha256::digest(self.encode()).into()
    }

    fn decode(r: &mut Reader<'_>) -> Result<Fragment, WireError> {
        if r.u8("format")? != FRAGMENT_FORMAT {
            return Err(WireError::BadValue("format"));
        }
        let topic = r.string(MAX_TOPIC_LEN, "topic")?;
        let tier = Tier::from_code(r.u8("tier")?).ok_or(WireError::BadValue("tier"))?;
        let contributor = r.array("contributor")?;
        let seq = r.u64("seq")?;
        let content = r.bytes(MAX_CONTENT_LEN, "content")?.to_vec();
        Ok(Fragment { topic, tier, contributor, seq, content })
    }
}

fn signed_bytes(encoding: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(WRITE_DOMAIN.len() + encoding.len());
    m.extend_from_slice(WRITE_DOMAIN);
    m.extend_from_slice(encoding);
    m
}

impl SignedWrite {
    /// Signs a fragment with the contributor's key (the fragment's `contributor` must be
    /// that key's public half, or the store will refuse the write as forged).
    pub fn sign(fragment: Fragment, key: &SigningKey) -> SignedWrite {
        let signature = key.sign(&signed_bytes(&fragment.encode())).to_bytes();
        SignedWrite { fragment, signature }
    }

    /// The canonical encoding: the fragment's encoding, then the 64 signature bytes. This is
    /// the Merkle leaf.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.fragment.encode();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes a write sent by a client or read back from a retrieval.
    pub fn decode(bytes: &[u8]) -> Result<SignedWrite, WireError> {
        let mut r = Reader { s: bytes };
        let fragment = Fragment::decode(&mut r)?;
        let signature = r.array("signature")?;
        r.finish()?;
        Ok(SignedWrite { fragment, signature })
    }

    /// Checks the signature against the fragment's contributor key.
    pub fn verify_signature(&self) -> Result<(), WriteError> {
        let key = VerifyingKey::from_bytes(&self.fragment.contributor).map_err(|_| WriteError::BadContributorKey)?;
        key.verify_strict(&signed_bytes(&self.fragment.encode()), &Signature::from_bytes(&self.signature))
            .map_err(|_| WriteError::BadSignature)
    }
}

/// One grant of a write policy: a contributor may write these topics at these tiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The contributor's public key.
    pub contributor: [u8; 32],
    /// Topics it may write; an empty list means none.
    pub topics: Vec<String>,
    /// Tiers it may write.
    pub tiers: Vec<Tier>,
}

/// Who may write which topic at which tier.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WritePolicy {
    /// The grants; a contributor without one may not write at all.
    pub grants: Vec<Grant>,
}

/// Why a write was refused. Nothing is stored when a write is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// The write's bytes do not decode.
    Malformed(WireError),
    /// The topic is empty.
    EmptyTopic,
    /// The content is empty.
    EmptyContent,
    /// The topic or content exceeds its limit.
    TooLong(&'static str),
    /// The contributor field is not a valid Ed25519 public key.
    BadContributorKey,
    /// The signature does not verify under the contributor's key (forged or altered).
    BadSignature,
    /// The write policy has no grant for this contributor.
    UnknownContributor,
    /// The contributor may not write this topic at this tier.
    NotAuthorised {
        /// The topic written.
        topic: String,
        /// The tier written.
        tier: Tier,
    },
    /// The sequence number is not the contributor's next one (`got < expected`: a replay).
    WrongSequence {
        /// The contributor's next sequence number.
        expected: u64,
        /// The write's.
        got: u64,
    },
    /// The knowledge log refused the entry (full).
    Log(LogError),
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed write: {e}"),
            Self::EmptyTopic => f.write_str("write has an empty topic"),
            Self::EmptyContent => f.write_str("write has empty content"),
            Self::TooLong(field) => write!(f, "write field '{field}' too long"),
            Self::BadContributorKey => f.write_str("contributor is not a valid Ed25519 public key"),
            Self::BadSignature => f.write_str("signature does not verify under the contributor's key"),
            Self::UnknownContributor => f.write_str("contributor has no grant in the write policy"),
            Self::NotAuthorised { topic, tier } => write!(f, "contributor may not write topic '{topic}' at tier {tier}"),
            Self::WrongSequence { expected, got } if got < expected => write!(f, "replayed write: seq {got}, next is {expected}"),
            Self::WrongSequence { expected, got } => write!(f, "write seq {got} skips ahead of the next, {expected}"),
            Self::Log(e) => write!(f, "knowledge log: {e}"),
        }
    }
}

/// A retrieved fragment: where it is, its ID, the stored signed write and its inclusion proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retrieved {
    /// The fragment's ID (content hash).
    pub id: FragmentId,
    /// The stored leaf: the signed write's encoding.
    pub leaf: Vec<u8>,
    /// Its audit path to the root of [`Retrieval::head`].
    pub proof: InclusionProof,
}

/// The answer to a retrieval: the tree head the proofs lead to, and the fragments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retrieval {
    /// The knowledge state the proofs are against (timestamp 0: the store keeps no clock).
    pub head: TreeHead,
    /// The matching fragments, oldest first.
    pub items: Vec<Retrieved>,
}

/// Why a retrieved fragment failed the consumer's check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetrievalError {
    /// The inclusion proof does not lead to the trusted root.
    Proof(ProofError),
    /// The leaf does not decode as a signed write.
    Malformed(WireError),
    /// The fragment's content hash differs from the ID it was returned under.
    IdMismatch,
    /// The contributor's signature does not verify.
    Signature(WriteError),
}

impl fmt::Display for RetrievalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Proof(e) => write!(f, "inclusion proof: {e}"),
            Self::Malformed(e) => write!(f, "retrieved leaf: {e}"),
            Self::IdMismatch => f.write_str("fragment content hash differs from its ID"),
            Self::Signature(e) => write!(f, "retrieved fragment: {e}"),
        }
    }
}

/// The knowledge store: the write policy, the Merkle log of accepted writes and an index.
#[derive(Clone, Debug, Default)]
pub struct KnowledgeStore {
    policy: WritePolicy,
    log: UpdateLog,
    next_seq: BTreeMap<[u8; 32], u64>,
    by_topic: BTreeMap<String, Vec<u64>>,
}

impl KnowledgeStore {
    /// An empty store governed by `policy`.
    pub fn new(policy: WritePolicy) -> Self {
        KnowledgeStore { policy, ..Default::default() }
    }

    /// The RFC 6962 root over every accepted write: the committed knowledge state.
    pub fn root(&self) -> Hash {
        self.log.root()
    }

    /// The number of accepted writes.
    pub fn size(&self) -> u64 {
        self.log.size()
    }

    /// Decodes and applies a client's write (see [`KnowledgeStore::write`]).
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<FragmentId, WriteError> {
        let write = SignedWrite::decode(bytes).map_err(WriteError::Malformed)?;
        self.write(&write)
    }

    /// Checks a write (sizes, signature, policy, sequence) and, if every check passes,
    /// appends it. Returns the fragment's ID.
    pub fn write(&mut self, write: &SignedWrite) -> Result<FragmentId, WriteError> {
        let expected = self.check(write)?;
        let f = &write.fragment;
        let index = self.log.append_entry(write.encode()).map_err(WriteError::Log)?;
        self.next_seq.insert(f.contributor, expected + 1);
        self.by_topic.entry(f.topic.clone()).or_default().push(index);
        Ok(f.id())
    }

    /// Every check of [`KnowledgeStore::write`], changing nothing: a caller that must make a
    /// write durable before it is applied (the verify domain) checks, persists, then writes.
    /// Returns the contributor's sequence number the write carries.
    pub fn check(&self, write: &SignedWrite) -> Result<u64, WriteError> {
        let f = &write.fragment;
        if f.topic.is_empty() {
            return Err(WriteError::EmptyTopic);
        }
        if f.content.is_empty() {
            return Err(WriteError::EmptyContent);
        }
        if f.topic.len() > MAX_TOPIC_LEN {
            return Err(WriteError::TooLong("topic"));
        }
        if f.content.len() > MAX_CONTENT_LEN {
            return Err(WriteError::TooLong("content"));
        }
        write.verify_signature()?;
        let grant = self.policy.grants.iter().find(|g| g.contributor == f.contributor).ok_or(WriteError::UnknownContributor)?;
        if !grant.topics.contains(&f.topic) || !grant.tiers.contains(&f.tier) {
            return Err(WriteError::NotAuthorised { topic: f.topic.clone(), tier: f.tier });
        }
        let expected = self.next_seq.get(&f.contributor).copied().unwrap_or(0);
        if f.seq != expected {
            return Err(WriteError::WrongSequence { expected, got: f.seq });
        }
        Ok(expected)
    }

    /// The fragments of `topic` whose content contains `term` (ASCII case-insensitive; an
    /// empty term matches all), at most `limit`, oldest first, each with its proof.
    pub fn retrieve(&self, topic: &str, term: &str, limit: usize) -> Retrieval {
        let mut items = Vec::new();
        for &index in self.by_topic.get(topic).map(Vec::as_slice).unwrap_or(&[]) {
            if items.len() >= limit {
                break;
            }
            let Some(leaf) = self.log.entry(index) else { continue };
            let Ok(write) = SignedWrite::decode(leaf) else { continue };
            if !contains_ignore_case(&write.fragment.content, term.as_bytes()) {
                continue;
            }
            if let Ok(proof) = self.log.prove_inclusion(index) {
                items.push(Retrieved { id: write.fragment.id(), leaf: leaf.to_vec(), proof });
            }
        }
        Retrieval { head: self.log.tree_head(0), items }
    }
}

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

/// The consumer's check of one retrieved fragment against a root it trusts (and the tree
/// size that root is for): the inclusion proof, the content hash, the contributor's
/// signature. Returns the verified fragment.
pub fn verify_retrieved(item: &Retrieved, root: &Hash, tree_size: u64) -> Result<Fragment, RetrievalError> {
    if item.proof.tree_size != tree_size {
        return Err(RetrievalError::Proof(ProofError::SizeMismatch));
    }
    verify_inclusion(&item.leaf, item.proof.leaf_index, tree_size, root, &item.proof.path).map_err(RetrievalError::Proof)?;
    let write = SignedWrite::decode(&item.leaf).map_err(RetrievalError::Malformed)?;
    if write.fragment.id() != item.id {
        return Err(RetrievalError::IdMismatch);
    }
    write.verify_signature().map_err(RetrievalError::Signature)?;
    Ok(write.fragment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn frag(k: &SigningKey, topic: &str, tier: Tier, seq: u64, content: &str) -> Fragment {
        Fragment { topic: topic.to_string(), tier, contributor: k.verifying_key().to_bytes(), seq, content: content.as_bytes().to_vec() }
    }

    fn store() -> KnowledgeStore {
        KnowledgeStore::new(WritePolicy {
            grants: vec![
                Grant {
                    contributor: key(1).verifying_key().to_bytes(),
                    topics: vec!["units".into(), "grid".into()],
                    tiers: vec![Tier::T1, Tier::T2],
                },
                Grant { contributor: key(2).verifying_key().to_bytes(), topics: vec!["strategy".into()], tiers: vec![Tier::T3] },
            ],
        })
    }

    #[test]
    fn written_fragments_are_retrieved_with_proofs_the_consumer_checks() {
        let mut s = store();
        let a = s.write(&SignedWrite::sign(frag(&key(1), "units", Tier::T1, 0, "1 mi = 1.609344 km"), &key(1))).unwrap();
        s.write(&SignedWrite::sign(frag(&key(2), "strategy", Tier::T3, 0, "partner review due Q3"), &key(2))).unwrap();
        let c = s.write(&SignedWrite::sign(frag(&key(1), "units", Tier::T1, 1, "1 lb = 0.45359237 kg"), &key(1))).unwrap();
        assert_eq!(s.size(), 3);
        let all = s.retrieve("units", "", 10);
        assert_eq!(all.items.iter().map(|i| i.id).collect::<Vec<_>>(), vec![a, c]);
        let lb = s.retrieve("units", "LB", 10);
        assert_eq!(lb.items.len(), 1);
        let root = s.root();
        for item in &all.items {
            let f = verify_retrieved(item, &root, s.size()).unwrap();
            assert_eq!(f.topic, "units");
        }
        assert!(s.retrieve("nope", "", 10).items.is_empty());
        assert_eq!(s.retrieve("units", "", 1).items.len(), 1);
    }

    #[test]
    fn a_tampered_fragment_fails_its_proof() {
        let mut s = store();
        s.write(&SignedWrite::sign(frag(&key(1), "units", Tier::T1, 0, "1 mi = 1.609344 km"), &key(1))).unwrap();
        s.write(&SignedWrite::sign(frag(&key(1), "grid", Tier::T2, 1, "nominal 50 Hz"), &key(1))).unwrap();
        let root = s.root();
        let good = s.retrieve("units", "", 1).items.remove(0);
        // Flip one content byte: the leaf no longer hashes into the root.
        let mut bad = good.clone();
        let at = bad.leaf.len() - 64 - 3;
        bad.leaf[at] ^= 1;
        assert_eq!(verify_retrieved(&bad, &root, 2), Err(RetrievalError::Proof(ProofError::RootMismatch)));
        // A proof against another root (an older or forked knowledge state) fails.
        assert_eq!(verify_retrieved(&good, &[7; 32], 2), Err(RetrievalError::Proof(ProofError::RootMismatch)));
        assert_eq!(verify_retrieved(&good, &root, 3), Err(RetrievalError::Proof(ProofError::SizeMismatch)));
        // A right leaf returned under another ID is caught.
        let mut wrong_id = good.clone();
        wrong_id.id[0] ^= 1;
        assert_eq!(verify_retrieved(&wrong_id, &root, 2), Err(RetrievalError::IdMismatch));
        let mut short = good.clone();
        short.proof.path.pop();
        assert_eq!(verify_retrieved(&short, &root, 2), Err(RetrievalError::Proof(ProofError::WrongProofLength)));
    }

    #[test]
    fn unsigned_forged_and_unauthorised_writes_are_refused() {
        let mut s = store();
        let unsigned = SignedWrite { fragment: frag(&key(1), "units", Tier::T1, 0, "x"), signature: [0; 64] };
        assert_eq!(s.write(&unsigned), Err(WriteError::BadSignature));
        // Signed by key 3 but claiming to be key 1.
        assert_eq!(s.write(&SignedWrite::sign(frag(&key(1), "units", Tier::T1, 0, "x"), &key(3))), Err(WriteError::BadSignature));
        // Altered after signing.
        let mut altered = SignedWrite::sign(frag(&key(1), "units", Tier::T1, 0, "1 km = 1000 m"), &key(1));
        altered.fragment.content = b"1 km = 100 m".to_vec();
        assert_eq!(s.write(&altered), Err(WriteError::BadSignature));
        assert_eq!(s.write(&SignedWrite::sign(frag(&key(3), "units", Tier::T1, 0, "x"), &key(3))), Err(WriteError::UnknownContributor));
        assert_eq!(
            s.write(&SignedWrite::sign(frag(&key(1), "strategy", Tier::T1, 0, "x"), &key(1))),
            Err(WriteError::NotAuthorised { topic: "strategy".into(), tier: Tier::T1 })
        );
        assert_eq!(
            s.write(&SignedWrite::sign(frag(&key(1), "units", Tier::T3, 0, "x"), &key(1))),
            Err(WriteError::NotAuthorised { topic: "units".into(), tier: Tier::T3 })
        );
        let mut bad_key = unsigned.clone();
        bad_key.fragment.contributor = [0xff; 32];
        bad_key.fragment.contributor[31] = 0x7f;
        assert!(matches!(s.write(&bad_key), Err(WriteError::BadContributorKey | WriteError::BadSignature)));
        assert_eq!(s.size(), 0, "nothing refused was stored");
        assert_eq!(s.root(), tileos_update_log::EMPTY_ROOT);
    }

    #[test]
    fn replayed_and_skipping_writes_are_refused() {
        let mut s = store();
        let w0 = SignedWrite::sign(frag(&key(1), "units", Tier::T1, 0, "a"), &key(1));
        s.write(&w0).unwrap();
        assert_eq!(s.write(&w0), Err(WriteError::WrongSequence { expected: 1, got: 0 }));
        assert_eq!(
            s.write(&SignedWrite::sign(frag(&key(1), "units", Tier::T1, 5, "b"), &key(1))),
            Err(WriteError::WrongSequence { expected: 1, got: 5 })
        );
        s.write(&SignedWrite::sign(frag(&key(1), "units", Tier::T1, 1, "b"), &key(1))).unwrap();
        assert_eq!(s.size(), 2);
    }

    #[test]
    fn malformed_and_oversized_writes_are_refused_by_field() {
        let mut s = store();
        let good = SignedWrite::sign(frag(&key(1), "units", Tier::T1, 0, "abc"), &key(1)).encode();
        assert_eq!(s.write_bytes(&good[..good.len() - 1]), Err(WriteError::Malformed(WireError::Truncated("signature"))));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(s.write_bytes(&trailing), Err(WriteError::Malformed(WireError::Trailing)));
        let mut fmt = good.clone();
        fmt[0] = 9;
        assert_eq!(s.write_bytes(&fmt), Err(WriteError::Malformed(WireError::BadValue("format"))));
        let mut huge_len = good.clone();
        huge_len[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(s.write_bytes(&huge_len), Err(WriteError::Malformed(WireError::TooLong("topic"))));
        let mut tier = good.clone();
        tier[1 + 4 + 5] = 4;
        assert_eq!(s.write_bytes(&tier), Err(WriteError::Malformed(WireError::BadValue("tier"))));
        assert_eq!(s.write_bytes(&[]), Err(WriteError::Malformed(WireError::Truncated("format"))));
        let big = SignedWrite::sign(frag(&key(1), "units", Tier::T1, 0, &"x".repeat(MAX_CONTENT_LEN + 1)), &key(1));
        assert_eq!(s.write(&big), Err(WriteError::TooLong("content")));
        assert_eq!(s.write(&SignedWrite::sign(frag(&key(1), "", Tier::T1, 0, "x"), &key(1))), Err(WriteError::EmptyTopic));
        assert_eq!(s.write(&SignedWrite::sign(frag(&key(1), "units", Tier::T1, 0, ""), &key(1))), Err(WriteError::EmptyContent));
        // And the store still serves.
        assert!(s.write_bytes(&good).is_ok());
    }
}
