//! Inclusion proofs (RFC 6962 §2.1.1) and consistency proofs (RFC 6962 §2.1.2): the proof
//! types and their verification.
//!
//! Verification runs `ct-merkle`'s algorithms after checking every bound that could make them
//! panic, so any tree size, index or proof a peer sends yields `Ok` or a [`ProofError`].

use alloc::vec::Vec;

use ct_merkle::{ConsistencyVerifError, InclusionVerifError, RootHash};
use sha2::Sha256;

use crate::hash::{EMPTY_ROOT, Hash};
use crate::tree_head::TreeHead;

/// The largest tree size this crate accepts (2^62 entries), well inside the range where the
/// tree arithmetic of `ct-merkle` is defined; larger claimed sizes are rejected, not computed.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// Why a proof did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofError {
    /// A tree size above [`MAX_TREE_SIZE`].
    TreeTooLarge,
    /// The leaf index is not below the tree size (this includes every index in an empty tree).
    IndexOutOfRange,
    /// The old tree of a consistency proof is larger than the new one.
    OldTreeLarger,
    /// The proof does not have the number of hashes the sizes call for.
    WrongProofLength,
    /// The proof's tree size differs from the size of the tree head it is checked against.
    SizeMismatch,
    /// The hashes recomputed from the proof do not match the root hash(es).
    RootMismatch,
}

impl core::fmt::Display for ProofError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::TreeTooLarge => "tree size above the supported maximum",
            Self::IndexOutOfRange => "leaf index not below the tree size",
            Self::OldTreeLarger => "old tree larger than new tree",
            Self::WrongProofLength => "proof has the wrong number of hashes",
            Self::SizeMismatch => "proof tree size differs from the tree head's",
            Self::RootMismatch => "proof does not lead to the root hash",
        })
    }
}

impl core::error::Error for ProofError {}

/// A proof that the entry at `leaf_index` is in the tree of `tree_size` entries: the RFC 6962
/// §2.1.1 audit path `PATH(leaf_index, D[tree_size])`, nearest sibling first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    /// Zero-based index of the proved entry.
    pub leaf_index: u64,
    /// Size of the tree the path leads to the root of.
    pub tree_size: u64,
    /// The sibling hashes from the leaf up to the root.
    pub path: Vec<Hash>,
}

impl InclusionProof {
    /// Checks that `entry` is this proof's entry in the tree `head` describes.
    pub fn verify(&self, entry: &[u8], head: &TreeHead) -> Result<(), ProofError> {
        if self.tree_size != head.tree_size {
            return Err(ProofError::SizeMismatch);
        }
        verify_inclusion(entry, self.leaf_index, self.tree_size, &head.root_hash, &self.path)
    }
}

/// A proof that the tree of `old_size` entries is a prefix of the tree of `new_size` entries:
/// RFC 6962 §2.1.2 `PROOF(old_size, D[new_size])`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// Size of the older tree.
    pub old_size: u64,
    /// Size of the newer tree.
    pub new_size: u64,
    /// The subtree hashes of the proof, in RFC 6962 order.
    pub path: Vec<Hash>,
}

impl ConsistencyProof {
    /// Checks that the tree `old` describes is a prefix of the tree `new` describes.
    pub fn verify(&self, old: &TreeHead, new: &TreeHead) -> Result<(), ProofError> {
        if self.old_size != old.tree_size || self.new_size != new.tree_size {
            return Err(ProofError::SizeMismatch);
        }
        verify_consistency(self.old_size, &old.root_hash, self.new_size, &new.root_hash, &self.path)
    }
}

/// Verifies that `entry` is the entry at `leaf_index` of the tree of `tree_size` entries whose
/// root is `root`, given the audit path `path` (RFC 6962 §2.1.1).
pub fn verify_inclusion(entry: &[u8], leaf_index: u64, tree_size: u64, root: &Hash, path: &[Hash]) -> Result<(), ProofError> {
    if tree_size > MAX_TREE_SIZE {
        return Err(ProofError::TreeTooLarge);
    }
    if leaf_index >= tree_size {
        return Err(ProofError::IndexOutOfRange);
    }
    let root = RootHash::<Sha256>::new((*root).into(), tree_size);
    let proof = ct_merkle::InclusionProof::<Sha256>::from_digests(path.iter().map(Into::into));
    root.verify_inclusion(&entry, leaf_index, &proof).map_err(|e| match e {
        InclusionVerifError::MalformedProof => ProofError::WrongProofLength,
        InclusionVerifError::IndexOutOfRange | InclusionVerifError::TreeEmpty => ProofError::IndexOutOfRange,
        InclusionVerifError::IncorrectHash => ProofError::RootMismatch,
    })
}

/// Verifies that the tree of `old_size` entries with root `old_root` is a prefix of the tree of
/// `new_size` entries with root `new_root`, given the proof `path` (RFC 6962 §2.1.2).
///
/// RFC 6962 defines proofs for `0 < old_size <= new_size`; like transparency-dev/merkle this
/// also accepts `old_size == 0` with an empty proof, and additionally requires `old_root` to be
/// the empty-tree hash then.
pub fn verify_consistency(old_size: u64, old_root: &Hash, new_size: u64, new_root: &Hash, path: &[Hash]) -> Result<(), ProofError> {
    if new_size > MAX_TREE_SIZE {
        return Err(ProofError::TreeTooLarge);
    }
    if old_size > new_size {
        return Err(ProofError::OldTreeLarger);
    }
    if old_size == 0 {
        return match (path.is_empty(), *old_root == EMPTY_ROOT) {
            (false, _) => Err(ProofError::WrongProofLength),
            (true, false) => Err(ProofError::RootMismatch),
            (true, true) => Ok(()),
        };
    }
    let old = RootHash::<Sha256>::new((*old_root).into(), old_size);
    let new = RootHash::<Sha256>::new((*new_root).into(), new_size);
    let proof = ct_merkle::ConsistencyProof::<Sha256>::from_digests(path.iter().map(Into::into));
    new.verify_consistency(&old, &proof).map_err(|e| match e {
        ConsistencyVerifError::MalformedProof => ProofError::WrongProofLength,
        ConsistencyVerifError::OldTreeLarger => ProofError::OldTreeLarger,
        ConsistencyVerifError::NewTreeTooBig => ProofError::TreeTooLarge,
        // `OldTreeEmpty` is ruled out above; it maps to a failure all the same.
        ConsistencyVerifError::OldTreeEmpty | ConsistencyVerifError::VerificationFailure => ProofError::RootMismatch,
    })
}
