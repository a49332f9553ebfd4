//! The verification cores of the inference network (seed `002_…`, "Verification
//! architecture"; docs/inference.md, "Verification").
//!
//! - Plane H, memory integrity: [`knowledge`] — content-hashed fragments in an RFC 6962
//!   Merkle tree, signed writes under a write policy, retrieval with inclusion proofs.
//! - Plane B, reasoning checks: [`canary`] — canaries of classes A/B/C with rotation, expiry
//!   and a secret reserve; the audit book turning class-A results into reputation
//!   (`tileos-reputation`) and penalising overfitting.
//! - Class-A checkers, the trust anchor: [`arith`] (exact arithmetic), [`units`] (unit
//!   conversion with dimensions), [`schema`] (structured answers), on exact [`rational`]s.
//! - [`independence`]: lineages' measured dependence from the canary history.
//! - [`gate`]: the live verification gate (class A, or independence-weighted class C; T3
//!   needs a human).
//! - [`ledger`]: the canonical tuple appended to an RFC 6962 log (`tileos-update-log`).
//! - [`wire`]: the canonical encoding shared by writes, ledger entries and the router's
//!   logged requests.
//!
//! Checkers, claims and the gate allocate nothing per call; the stores (knowledge, canaries,
//! audit book, ledger) grow with what they hold.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod arith;
pub mod canary;
pub mod claim;
pub mod gate;
pub mod independence;
pub mod knowledge;
pub mod ledger;
pub mod rational;
pub mod schema;
pub mod text;
pub mod tier;
pub mod units;
pub mod wire;

pub use tier::Tier;
pub use wire::WireError;
