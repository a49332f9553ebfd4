//! Delta-state CRDTs for the tileos federation service (DESIGN.md §7), after Almeida,
//! Shoker and Baquero, "Delta State Replicated Data Types", J. Parallel Distrib. Comput.
//! 111 (2018), arXiv:1603.01529.
//!
//! Every type is a join-semilattice ([`Lattice`]). Mutators never change the state they
//! are called on: they are the paper's *delta mutators* `m^δ`, returning a small delta
//! that the caller joins into its own state and ships to others (`X ⊔ m^δ(X) = m(X)`).
//!
//! * Plain lattices: [`GCounter`], [`PnCounter`], [`LwwRegister`] (the paper's simple
//!   delta-CRDTs).
//! * Causal CRDTs (the paper's dot stores): a [`Causal`] pairs a dot store with a
//!   [`CausalContext`] (compact version vector plus dot cloud). Dot stores: [`MvReg`] (multi-value
//!   register), [`AwSet`] (add-wins OR-set), [`CCounter`] (causal counter) and [`OrMap`]
//!   (keys to embedded dot stores, sharing one context, nestable).
//! * [`Node`]: the paper's Algorithm 2, delta-interval anti-entropy with acknowledgements
//!   and causal delta-merging, for any lattice.
//! * [`to_bytes`] / [`from_bytes`]: postcard encoding of states, deltas and [`Message`]s.
//!   Decoding checks the invariants the joins rely on, so a hostile peer cannot make a
//!   replica panic; it can only send (valid) garbage data.
//! * [`bench`](mod@bench): a deterministic workload for a host "delta merges per second" benchmark.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod antientropy;
mod awset;
pub mod bench;
mod ccounter;
mod context;
mod counter;
mod dotstore;
mod lww;
mod mvreg;
mod ormap;

use alloc::vec::Vec;

pub use antientropy::{Message, Node};
pub use awset::AwSet;
pub use ccounter::CCounter;
pub use context::{CausalContext, Dot};
pub use counter::{GCounter, PnCounter};
pub use dotstore::{Causal, DotStore};
pub use lww::LwwRegister;
pub use mvreg::MvReg;
pub use ormap::OrMap;

/// Identifies a replica (for tiles: the node number of the DTN endpoint).
pub type ReplicaId = u64;

/// A join-semilattice state: `Default` is the bottom element and `join` is the least upper
/// bound, which is commutative, associative and idempotent, so replicas that have seen the
/// same deltas in any order, any number of times, hold equal states.
pub trait Lattice: Default {
    /// `self ← self ⊔ other`.
    fn join(&mut self, other: Self);

    /// `other ⊑ self`, i.e. joining `other` would change nothing (the paper's check in
    /// causal delta-merging). The default joins a copy and compares, which is exact
    /// because every type here keeps a canonical representation.
    fn includes(&self, other: &Self) -> bool
    where
        Self: Clone + PartialEq,
    {
        let mut joined = self.clone();
        joined.join(other.clone());
        joined == *self
    }
}

/// Errors of mutators, anti-entropy and decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A counter, timestamp, dot counter or sequence number would pass `u64::MAX`
    /// (or `i64` for [`CCounter`]).
    Overflow,
    /// A message names a replica that is not one of this node's neighbours.
    UnknownNeighbour(ReplicaId),
    /// Encoding failed.
    Encode(postcard::Error),
    /// The bytes are not a valid encoding of the expected type (including states whose
    /// store holds dots outside its context, or empty nested entries).
    Decode(postcard::Error),
    /// The bytes decode, but more bytes follow the value.
    TrailingBytes,
}

/// Encodes a state, delta or [`Message`] with postcard.
pub fn to_bytes<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    postcard::to_allocvec(value).map_err(Error::Encode)
}

/// Decodes exactly one value from `bytes` (trailing bytes are an error).
pub fn from_bytes<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok(_) => Err(Error::TrailingBytes),
        Err(e) => Err(Error::Decode(e)),
    }
}
