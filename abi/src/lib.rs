//! The tileos binary interface: every number that the kernel, user-space binaries and host
//! tools must agree on lives here, so a change is made once and seen by all three.
//!
//! `docs/abi.md` documents the same numbers for readers; keep both in step.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bootinfo;
pub mod error;
pub mod fault;
pub mod fuzz;
pub mod invocation;
pub mod manifest;
pub mod message;
pub mod object;
pub mod syscall;
pub mod test_exit;
