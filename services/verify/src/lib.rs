//! The verification cores of the inference network (seed `002_…`, "Verification
//! architecture"; docs/inference.md, "Verification").
//!
//! - Class-A checkers, the trust anchor: [`arith`] (exact arithmetic), [`units`] (unit
//!   conversion with dimensions), [`schema`] (structured answers).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod arith;
pub mod canary;
pub mod gate;
pub mod independence;
pub mod knowledge;
pub mod claim;
pub mod rational;
pub mod schema;
pub mod tier;
pub mod units;
mod wire;
pub mod text;

pub use tier::Tier;
pub use wire::WireError;
