//! Host-testable logic of the tileos kernel.
//!
//! Everything here is plain `no_std` Rust with no hardware access, so `cargo test` runs it
//! on the host. The bare-metal binary (`main.rs`, with the x86_64 glue in `arch/`) calls
//! into these modules.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod acpi;
pub mod budget;
pub mod cap;
pub mod cspace;
pub mod decode;
pub mod donation;
pub mod iospace;
pub mod lock;
pub mod multiboot;
pub mod queue;
pub mod transfer;
pub mod untyped;
pub mod vspace;
