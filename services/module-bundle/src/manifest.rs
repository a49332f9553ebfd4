//! The bundle manifest: what a module is, where it came from, what it asks for and what
//! evidence backs it, with its deterministic postcard encoding.
//!
//! Postcard is deterministic for these types (no maps, no floats, fields in declaration order).
//! Decoding re-encodes and compares, so exactly one byte string is accepted per manifest: the
//! bytes that were signed are the canonical encoding of the manifest that is returned.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// SHA-256 of a payload: the value a manifest's `content_hash` must hold.
pub fn content_hash(payload: &[u8]) -> Hash {
    Sha256::digest(payload).into()
}

/// Semantic version of a module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Version {
    /// Incompatible interface changes.
    pub major: u32,
    /// Compatible additions.
    pub minor: u32,
    /// Fixes.
    pub patch: u32,
}

/// Where a module sits in its family tree, so N-version execution can run independent lineages
/// side by side and rollbacks know the predecessor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    /// Name of the lineage; independently generated versions of one module differ here.
    pub id: String,
    /// Content hash of the module this one was derived from, if any.
    pub parent: Option<Hash>,
    /// Number of derivation steps from the lineage's first module (0 for the first).
    pub generation: u32,
}

/// How the module was generated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Identifier of the generating model (name and version or weights digest).
    pub model_id: String,
    /// SHA-256 of the prompt the module was generated from.
    pub prompt_hash: Hash,
    /// Compiler and build toolchain that produced the ELF (e.g. `rustc 1.95.0`).
    pub toolchain: String,
}

/// Rights asked for on an endpoint capability (DESIGN.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rights {
    /// May receive.
    pub read: bool,
    /// May send.
    pub write: bool,
    /// May transfer capabilities.
    pub grant: bool,
    /// May transfer capabilities in replies only.
    pub grant_reply: bool,
}

/// One capability the module asks for, naming an object of the system description. The root
/// server grants only what the system description also names (DESIGN.md §5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CapabilityRequest {
    /// An IPC endpoint, with the rights asked for.
    Endpoint {
        /// Endpoint name in the system description.
        name: String,
        /// Rights asked for.
        rights: Rights,
    },
    /// A notification object.
    Notification {
        /// Notification name in the system description.
        name: String,
    },
    /// A shared memory region.
    MemoryRegion {
        /// Region name in the system description.
        name: String,
        /// Whether write access is asked for (otherwise read-only).
        writable: bool,
    },
    /// An interrupt line, delivered as notification signals.
    Irq {
        /// IRQ name in the system description.
        name: String,
    },
    /// An x86 I/O port range.
    IoPort {
        /// Port range name in the system description.
        name: String,
    },
}

/// Outcome of one machine-checked proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// The property was proved.
    Proved,
    /// A counterexample was found.
    Refuted,
    /// The tool gave no answer (timeout, bound reached).
    Inconclusive,
}

/// Result of checking one property of the module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofResult {
    /// The property checked.
    pub property: String,
    /// The checker (model checker, prover) and its version.
    pub tool: String,
    /// What it concluded.
    pub verdict: Verdict,
}

/// Result of one fuzzing campaign, replayable from its seed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FuzzResult {
    /// The fuzz target.
    pub target: String,
    /// Seed the campaign started from.
    pub seed: u64,
    /// Inputs tried.
    pub iterations: u64,
    /// Inputs that crashed or hung the target.
    pub failures: u64,
}

/// Test-suite counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCounts {
    /// Tests that passed.
    pub passed: u32,
    /// Tests that failed.
    pub failed: u32,
    /// Tests skipped.
    pub ignored: u32,
}

/// Evidence supplied with the module. It is signed, so it is attributable; whether it is
/// sufficient is the slot manager's policy, not this crate's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Proof and model-checking results.
    pub proofs: Vec<ProofResult>,
    /// Fuzzing campaigns.
    pub fuzz: Vec<FuzzResult>,
    /// Test-suite counts.
    pub tests: TestCounts,
}

/// Everything signed about a module; the payload is bound to it by `content_hash` and
/// `payload_size`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Module name (the service it implements).
    pub name: String,
    /// Module version.
    pub version: Version,
    /// Family tree of the module.
    pub lineage: Lineage,
    /// How the module was generated.
    pub provenance: Provenance,
    /// SHA-256 of the payload ELF.
    pub content_hash: Hash,
    /// Length of the payload ELF in bytes.
    pub payload_size: u32,
    /// Capabilities the module asks for.
    pub capabilities: Vec<CapabilityRequest>,
    /// Evidence backing the module.
    pub evidence: Evidence,
}

/// Why manifest bytes were not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Not a postcard encoding of a manifest.
    Malformed,
    /// A manifest, but not its canonical encoding (trailing bytes, over-long integers).
    NonCanonical,
}

impl Manifest {
    /// The canonical encoding that is signed. Encoding these types cannot fail in postcard; the
    /// `Option` only keeps that promise out of the code path.
    pub(crate) fn encode(&self) -> Option<Vec<u8>> {
        postcard::to_allocvec(self).ok()
    }

    /// Decodes canonical manifest bytes.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let manifest: Manifest = postcard::from_bytes(bytes).map_err(|_| DecodeError::Malformed)?;
        match manifest.encode() {
            Some(again) if again == bytes => Ok(manifest),
            _ => Err(DecodeError::NonCanonical),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn manifest() -> Manifest {
        Manifest {
            name: "twin".to_string(),
            version: Version { major: 0, minor: 3, patch: 1 },
            lineage: Lineage { id: "twin-a".to_string(), parent: None, generation: 0 },
            provenance: Provenance { model_id: "m".to_string(), prompt_hash: [1; 32], toolchain: "rustc".to_string() },
            content_hash: content_hash(b"elf"),
            payload_size: 3,
            capabilities: vec![CapabilityRequest::Irq { name: "timer".to_string() }],
            evidence: Evidence { proofs: vec![], fuzz: vec![], tests: TestCounts { passed: 1, failed: 0, ignored: 0 } },
        }
    }

    #[test]
    fn roundtrip() {
        let bytes = manifest().encode().unwrap();
        assert_eq!(Manifest::decode(&bytes), Ok(manifest()));
    }

    #[test]
    fn content_hash_is_sha256() {
        // SHA-256("abc"), FIPS 180-2 Appendix B.1.
        assert_eq!(content_hash(b"abc")[..4], [0xba, 0x78, 0x16, 0xbf],);
    }

    #[test]
    fn non_canonical_encodings_are_rejected() {
        let bytes = manifest().encode().unwrap();
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(Manifest::decode(&trailing), Err(DecodeError::NonCanonical));

        // The name's length prefix (a varint) written over-long: 0x84 0x00 instead of 0x04.
        assert_eq!(bytes[0], 4);
        let mut overlong = vec![0x84, 0x00];
        overlong.extend_from_slice(&bytes[1..]);
        assert!(Manifest::decode(&overlong).is_err());

        for len in 0..bytes.len() {
            assert_eq!(Manifest::decode(&bytes[..len]), Err(DecodeError::Malformed), "prefix {len}");
        }
    }
}
