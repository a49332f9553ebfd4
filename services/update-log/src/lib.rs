//! The tile's update log: an append-only RFC 6962 Merkle log in which every module install,
//! refusal, promotion, rollback, N-version lineage replacement and slot-manager restart is one
//! entry, with Ed25519-signed tree heads, inclusion proofs and
//! consistency proofs (DESIGN.md §6).
//!
//! - Hashing follows RFC 6962 §2.1: SHA-256, leaf hash `H(0x00 || entry)`, interior node hash
//!   `H(0x01 || left || right)`, the empty tree hashes to `SHA-256("")`.
//! - Inclusion proofs are RFC 6962 §2.1.1 audit paths, consistency proofs are RFC 6962 §2.1.2
//!   proofs. The tree and the proofs' generation are this crate's own (since `slots28`: it stores
//!   every complete perfect subtree's hash, so an append's hashing is bounded per unit and can be
//!   spread over steps, [`UpdateLog::hash_pending`]); the host tests check them byte for byte
//!   against the `ct-merkle` crate, whose verification algorithms this crate wraps so that no
//!   input (hostile sizes, indices or proof bytes) can reach one of its panics.
//! - A tree head is signed over the RFC 6962 §3.5 `TreeHeadSignature` structure (50 bytes) with
//!   Ed25519 (RFC 6962 itself names ECDSA and RSA; CT v2, RFC 9162, also admits Ed25519).
//! - Entries are [`UpdateEvent`]s, encoded as one format byte followed by their postcard
//!   encoding; decoding rejects any non-canonical byte string.
//!
//! Proofs can be produced against the current size or any earlier one
//! ([`UpdateLog::prove_inclusion_at`], [`UpdateLog::prove_consistency_between`]). Not done yet:
//! proofs have no wire encoding of their own (they are a size, an index and
//! a list of 32-byte hashes). Persisting the log is the store's job:
//! [`UpdateLog::from_entries`] rebuilds the tree from the stored entries.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod event;
mod hash;
mod log;
mod proof;
mod tree_head;

pub use event::{EventError, EventKind, MAX_ENTRY_LEN, ModuleRef, UpdateEvent};
pub use hash::{EMPTY_ROOT, Hash, leaf_hash, node_hash};
pub use log::{LogError, UpdateLog};
pub use proof::{ConsistencyProof, InclusionProof, MAX_TREE_SIZE, ProofError, verify_consistency, verify_inclusion};
pub use tree_head::{SIGNED_TREE_HEAD_LEN, SignedTreeHead, TreeHead, TreeHeadError};

/// Re-exported so callers name the same Ed25519 key types this crate signs and verifies with.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
