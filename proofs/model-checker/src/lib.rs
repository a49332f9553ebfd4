//! Exhaustive bounded model checker for the tileos kernel's capability system.
//!
//! It drives the kernel's real, host-testable capability code — [`tileos_kernel::cap`]
//! (derivation), [`tileos_kernel::cspace`] (the capability derivation tree: insert, move,
//! swap, delete, revoke, finality) and [`tileos_kernel::untyped::plan`] (retype placement)
//! — through every sequence of CNode and Untyped operations up to a depth over a small
//! [`Universe`], and checks the invariants of [`invariants::Invariant`] after every step.
//! Operations are decoded by the kernel's own decoder ([`tileos_kernel::decode`]) and then
//! checked against the state as the kernel's invocation layer does ([`op::decode`]), so
//! only operations the kernel would accept are applied. Deleted capabilities are finalised
//! with the kernel library's [`tileos_kernel::vspace::finalise`] ([`memory`]), and the slot
//! reads and writes of every kernel entry are counted and bounded ([`work`]).
//!
//! See docs/model-checker.md for the universe, the invariants and figures.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod donation;
pub mod explore;
pub mod invariants;
pub mod iospace;
pub mod mapping;
pub mod memory;
pub mod op;
pub mod refinement;
pub mod universe;
pub mod work;

pub use explore::{Config, Outcome, Report, Stats, TraceError, Violation, explore, run_trace};
pub use universe::Universe;
