//! The in-memory update log: appends events, reports tree heads, and produces inclusion and
//! consistency proofs against its current size.

use alloc::vec::Vec;

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ed25519_dalek::SigningKey;
use sha2::Sha256;

use crate::event::{EventError, MAX_ENTRY_LEN, UpdateEvent};
use crate::hash::Hash;
use crate::proof::{ConsistencyProof, InclusionProof, MAX_TREE_SIZE};
use crate::tree_head::{SignedTreeHead, TreeHead};

/// Why a log operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogError {
    /// The log already holds [`MAX_TREE_SIZE`] entries.
    Full,
    /// An entry is longer than [`MAX_ENTRY_LEN`].
    EntryTooLarge,
    /// An event could not be encoded.
    Event(EventError),
    /// A proof was asked for an entry index not below the log size.
    IndexOutOfRange,
    /// A consistency proof was asked from a size above the log size.
    OldSizeTooLarge,
}

impl core::fmt::Display for LogError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Full => f.write_str("update log is full"),
            Self::EntryTooLarge => f.write_str("entry longer than the maximum"),
            Self::Event(error) => write!(f, "event: {error}"),
            Self::IndexOutOfRange => f.write_str("entry index not below the log size"),
            Self::OldSizeTooLarge => f.write_str("old size above the log size"),
        }
    }
}

impl core::error::Error for LogError {}

/// An append-only RFC 6962 Merkle log of entries (encoded [`UpdateEvent`]s), kept in memory.
#[derive(Clone, Debug, Default)]
pub struct UpdateLog {
    tree: MemoryBackedTree<Sha256, Vec<u8>>,
}

impl UpdateLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a log from its stored entries, in order.
    pub fn from_entries(entries: impl IntoIterator<Item = Vec<u8>>) -> Result<Self, LogError> {
        let mut log = Self::new();
        for entry in entries {
            log.append_entry(entry)?;
        }
        Ok(log)
    }

    /// Encodes an event, appends it, and returns its index.
    pub fn append(&mut self, event: &UpdateEvent) -> Result<u64, LogError> {
        let entry = event.encode().map_err(LogError::Event)?;
        self.append_entry(entry)
    }

    /// Appends an already encoded entry and returns its index. The log hashes entries as opaque
    /// bytes; [`UpdateEvent::decode`] reads them back.
    pub fn append_entry(&mut self, entry: Vec<u8>) -> Result<u64, LogError> {
        if entry.len() > MAX_ENTRY_LEN {
            return Err(LogError::EntryTooLarge);
        }
        let index = self.size();
        if index >= MAX_TREE_SIZE {
            return Err(LogError::Full);
        }
        self.tree.push(entry);
        Ok(index)
    }

    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.tree.len()
    }

    /// The encoded entry at `index` (the exact bytes that were hashed into the tree).
    pub fn entry(&self, index: u64) -> Option<&[u8]> {
        let index = usize::try_from(index).ok()?;
        self.tree.get(index).map(Vec::as_slice)
    }

    /// The RFC 6962 Merkle Tree Hash of all entries.
    pub fn root(&self) -> Hash {
        (*self.tree.root().as_bytes()).into()
    }

    /// The current tree head, stamped with the caller's clock reading.
    pub fn tree_head(&self, timestamp_ms: u64) -> TreeHead {
        TreeHead { tree_size: self.size(), timestamp_ms, root_hash: self.root() }
    }

    /// The current tree head, stamped and signed with the log key.
    pub fn signed_tree_head(&self, timestamp_ms: u64, key: &SigningKey) -> SignedTreeHead {
        self.tree_head(timestamp_ms).sign(key)
    }

    /// The audit path of entry `index` in the current tree.
    pub fn prove_inclusion(&self, index: u64) -> Result<InclusionProof, LogError> {
        if index >= self.size() {
            return Err(LogError::IndexOutOfRange);
        }
        let position = usize::try_from(index).map_err(|_| LogError::IndexOutOfRange)?;
        Ok(InclusionProof { leaf_index: index, tree_size: self.size(), path: hashes(self.tree.prove_inclusion(position).as_bytes()) })
    }

    /// A proof that the log's first `old_size` entries are a prefix of the current tree.
    pub fn prove_consistency(&self, old_size: u64) -> Result<ConsistencyProof, LogError> {
        let new_size = self.size();
        if old_size > new_size {
            return Err(LogError::OldSizeTooLarge);
        }
        let path = if old_size == 0 {
            Vec::new()
        } else {
            let additions = usize::try_from(new_size - old_size).map_err(|_| LogError::OldSizeTooLarge)?;
            hashes(self.tree.prove_consistency(additions).as_bytes())
        };
        Ok(ConsistencyProof { old_size, new_size, path })
    }
}

/// Splits a concatenation of 32-byte hashes, as `ct-merkle` returns proofs.
fn hashes(bytes: &[u8]) -> Vec<Hash> {
    bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect()
}
