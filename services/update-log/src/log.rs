//! The in-memory update log: appends events, reports tree heads, and produces inclusion and
//! consistency proofs against its current size or any earlier one.
//!
//! The tree is this crate's own (since `slots28`; `ct-merkle`'s `MemoryBackedTree` before,
//! which hashed a new leaf's whole path to the root on every push). It stores the hash of
//! every complete, aligned perfect subtree: `levels[l][i]` is the RFC 6962 Merkle Tree Hash of
//! entries `i·2^l .. (i+1)·2^l`. An append hashes the leaf and then only the nodes the leaf
//! completes (amortized one, at most log₂ n); each of those hashes is one *unit*, and
//! [`UpdateLog::hash_pending`] does at most a given number of units, so the hashing of an
//! entry can be spread over bounded steps. Roots and proofs are computed from the stored
//! nodes when asked: the right edge of a tree of size n costs at most log₂ n node hashes per
//! subtree hash the RFC's recursion asks for. The host tests check roots and proofs byte for
//! byte against `ct-merkle` and against a transcription of RFC 6962 §2.1.

use alloc::vec::Vec;

use ed25519_dalek::SigningKey;

use crate::event::{EventError, MAX_ENTRY_LEN, UpdateEvent};
use crate::hash::{EMPTY_ROOT, Hash, leaf_hash, node_hash};
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
    /// A proof was asked for an entry index not below the tree size.
    IndexOutOfRange,
    /// A consistency proof was asked from a size above the newer size.
    OldSizeTooLarge,
    /// A proof was asked against a tree size above the log's hashed size.
    TreeSizeTooLarge,
}

impl core::fmt::Display for LogError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Full => f.write_str("update log is full"),
            Self::EntryTooLarge => f.write_str("entry longer than the maximum"),
            Self::Event(error) => write!(f, "event: {error}"),
            Self::IndexOutOfRange => f.write_str("entry index not below the log size"),
            Self::OldSizeTooLarge => f.write_str("old size above the log size"),
            Self::TreeSizeTooLarge => f.write_str("tree size above the log's hashed size"),
        }
    }
}

impl core::error::Error for LogError {}

/// An append-only RFC 6962 Merkle log of entries (encoded [`UpdateEvent`]s), kept in memory.
///
/// Entries are *appended* ([`UpdateLog::push_entry`]) and then *hashed in*
/// ([`UpdateLog::hash_pending`]); [`UpdateLog::append_entry`] does both at once. Heads and
/// proofs cover the hashed entries only ([`UpdateLog::size`]).
#[derive(Clone, Debug, Default)]
pub struct UpdateLog {
    /// Every appended entry, hashed in or not.
    entries: Vec<Vec<u8>>,
    /// `levels[l][i]`: the hash of the perfect subtree of entries `i·2^l .. (i+1)·2^l`.
    levels: Vec<Vec<Hash>>,
    /// Entries whose leaf and every node they complete are hashed.
    size: u64,
}

impl UpdateLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a log from its stored entries, in order, every one hashed in.
    pub fn from_entries(entries: impl IntoIterator<Item = Vec<u8>>) -> Result<Self, LogError> {
        let mut log = Self::new();
        for entry in entries {
            log.append_entry(entry)?;
        }
        Ok(log)
    }

    /// Encodes an event, appends it and hashes it in; returns its index.
    pub fn append(&mut self, event: &UpdateEvent) -> Result<u64, LogError> {
        let entry = event.encode().map_err(LogError::Event)?;
        self.append_entry(entry)
    }

    /// Appends an already encoded entry, hashes it (and any entry appended before it and not
    /// yet hashed) into the tree, and returns its index. The log hashes entries as opaque
    /// bytes; [`UpdateEvent::decode`] reads them back.
    pub fn append_entry(&mut self, entry: Vec<u8>) -> Result<u64, LogError> {
        let index = self.push_entry(entry)?;
        while self.hash_pending(usize::MAX) > 0 {}
        Ok(index)
    }

    /// Appends an encoded entry without hashing it: it joins the tree (and [`UpdateLog::size`])
    /// once [`UpdateLog::hash_pending`] has done its units. Returns its index.
    pub fn push_entry(&mut self, entry: Vec<u8>) -> Result<u64, LogError> {
        if entry.len() > MAX_ENTRY_LEN {
            return Err(LogError::EntryTooLarge);
        }
        let index = self.appended();
        if index >= MAX_TREE_SIZE {
            return Err(LogError::Full);
        }
        self.entries.push(entry);
        Ok(index)
    }

    /// Does at most `max_units` units of the pending hashing, in order: each unit is one
    /// SHA-256 computation, an appended entry's leaf hash or one interior node its leaf
    /// completes. Returns the units done (0: nothing was pending).
    pub fn hash_pending(&mut self, max_units: usize) -> usize {
        let mut done = 0;
        while done < max_units && self.hash_unit() {
            done += 1;
        }
        done
    }

    /// Entries appended but not yet (completely) hashed into the tree.
    pub fn pending(&self) -> u64 {
        self.appended() - self.size
    }

    /// Entries appended, hashed in or not.
    pub fn appended(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Number of entries in the tree (hashed in).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The encoded entry at `index` if it is in the tree (the exact bytes that were hashed).
    pub fn entry(&self, index: u64) -> Option<&[u8]> {
        if index >= self.size {
            return None;
        }
        self.appended_entry(index)
    }

    /// The encoded entry at `index`, hashed in or still pending.
    pub fn appended_entry(&self, index: u64) -> Option<&[u8]> {
        let index = usize::try_from(index).ok()?;
        self.entries.get(index).map(Vec::as_slice)
    }

    /// The RFC 6962 Merkle Tree Hash of the entries in the tree (at most log₂ n node hashes).
    pub fn root(&self) -> Hash {
        // `root_at` fails only for a size above `size`, or for a perfect subtree of the
        // hashed entries not stored, which `hash_unit` rules out (host tests check every
        // size's root against `ct-merkle`'s).
        self.root_at(self.size).unwrap_or(EMPTY_ROOT)
    }

    /// The Merkle Tree Hash of the first `tree_size` entries, any size up to
    /// [`UpdateLog::size`].
    pub fn root_at(&self, tree_size: u64) -> Result<Hash, LogError> {
        if tree_size > self.size {
            return Err(LogError::TreeSizeTooLarge);
        }
        if tree_size == 0 {
            return Ok(EMPTY_ROOT);
        }
        self.mth(0, tree_size)
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
        self.prove_inclusion_at(index, self.size)
    }

    /// The audit path of entry `index` in the tree of the first `tree_size` entries (RFC 6962
    /// §2.1.1 `PATH(index, D[tree_size])`), from the stored nodes.
    pub fn prove_inclusion_at(&self, index: u64, tree_size: u64) -> Result<InclusionProof, LogError> {
        if tree_size > self.size {
            return Err(LogError::TreeSizeTooLarge);
        }
        if index >= tree_size {
            return Err(LogError::IndexOutOfRange);
        }
        let mut path = Vec::new();
        // Top-down, as the RFC recurses; the path lists siblings from the leaf up.
        let (mut start, mut end, mut m) = (0u64, tree_size, index);
        while end - start > 1 {
            let k = split(end - start);
            if m < k {
                path.push(self.mth(start + k, end)?);
                end = start + k;
            } else {
                path.push(self.mth(start, start + k)?);
                start += k;
                m -= k;
            }
        }
        path.reverse();
        Ok(InclusionProof { leaf_index: index, tree_size, path })
    }

    /// A proof that the log's first `old_size` entries are a prefix of the current tree.
    pub fn prove_consistency(&self, old_size: u64) -> Result<ConsistencyProof, LogError> {
        self.prove_consistency_between(old_size, self.size)
    }

    /// A proof that the first `old_size` entries are a prefix of the first `new_size` (RFC
    /// 6962 §2.1.2 `PROOF(old_size, D[new_size])`; empty for `old_size` 0 or equal sizes),
    /// from the stored nodes.
    pub fn prove_consistency_between(&self, old_size: u64, new_size: u64) -> Result<ConsistencyProof, LogError> {
        if new_size > self.size {
            return Err(LogError::TreeSizeTooLarge);
        }
        if old_size > new_size {
            return Err(LogError::OldSizeTooLarge);
        }
        let mut path = Vec::new();
        if old_size > 0 {
            // SUBPROOF(m, D[start:end], b), top-down; the proof lists hashes from the bottom.
            let (mut start, mut end, mut m, mut whole) = (0u64, new_size, old_size, true);
            loop {
                let n = end - start;
                if m == n {
                    if !whole {
                        path.push(self.mth(start, end)?);
                    }
                    break;
                }
                let k = split(n);
                if m <= k {
                    path.push(self.mth(start + k, end)?);
                    end = start + k;
                } else {
                    path.push(self.mth(start, start + k)?);
                    start += k;
                    m -= k;
                    whole = false;
                }
            }
            path.reverse();
        }
        Ok(ConsistencyProof { old_size, new_size, path })
    }

    /// Hashes of the leaves hashed so far.
    fn leaves(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// The lowest level with a pair of nodes not yet hashed into the level above (there is at
    /// most one such pair: the one the latest leaf completed, or a node above it).
    fn carry_level(&self) -> Option<usize> {
        (0..self.levels.len()).find(|&l| self.levels.get(l + 1).map_or(0, Vec::len) < self.levels[l].len() / 2)
    }

    /// One unit of hashing: the pending node above the latest leaf, else the next pending
    /// entry's leaf. Returns whether there was one.
    fn hash_unit(&mut self) -> bool {
        if let Some(l) = self.carry_level() {
            let i = self.levels.get(l + 1).map_or(0, Vec::len);
            let below = &self.levels[l];
            let hash = node_hash(&below[2 * i], &below[2 * i + 1]);
            if self.levels.len() == l + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[l + 1].push(hash);
        } else {
            let next = self.leaves();
            let Some(entry) = usize::try_from(next).ok().and_then(|i| self.entries.get(i)) else {
                return false;
            };
            let hash = leaf_hash(entry);
            if self.levels.is_empty() {
                self.levels.push(Vec::new());
            }
            self.levels[0].push(hash);
        }
        if self.carry_level().is_none() {
            self.size = self.leaves();
        }
        true
    }

    /// The Merkle Tree Hash of entries `start..end` (`start < end <= size`, and `start` a
    /// multiple of the least power of two not below `end - start`, as every subtree of the
    /// RFC's recursion is): a stored node when the range is a perfect subtree, else its left
    /// perfect part and the hash of the rest.
    fn mth(&self, start: u64, end: u64) -> Result<Hash, LogError> {
        let n = end - start;
        if n.is_power_of_two() {
            let level = n.trailing_zeros() as usize;
            let index = usize::try_from(start >> level).map_err(|_| LogError::TreeSizeTooLarge)?;
            return self.levels.get(level).and_then(|l| l.get(index)).copied().ok_or(LogError::TreeSizeTooLarge);
        }
        let k = split(n);
        Ok(node_hash(&self.mth(start, start + k)?, &self.mth(start + k, end)?))
    }
}

/// The largest power of two strictly below `n` (`n >= 2`): where RFC 6962 splits a tree of
/// `n` leaves.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}
