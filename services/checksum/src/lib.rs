//! The checksum demo service (`tileos_protocol::checksum`, `docs/slots.md`, "The demo slot"):
//! the algorithms and the service logic the checksum modules run, host-tested against the
//! `crc` crate and RFC 1950's Adler-32.
//!
//! - [`crc32`]: CRC-32 (IEEE 802.3, reflected, zlib's `crc32`) three ways, each an
//!   [`Algorithms`] choice: [`Bitwise`] (one bit at a time, obviously right, slow: the
//!   incumbent `checksum-v1`), [`SliceBy8`] (eight 256-entry tables, eight bytes per step:
//!   `checksum-fast`) and, in [`lineage_b`], a nibble table (lineage B of the N-version demo);
//! - [`adler32`]: Adler-32 with the modulo deferred over blocks of [`adler32::NMAX`] bytes;
//! - [`Checksummer`]: the service over an [`Algorithms`]: stateless checksums and sixteen
//!   running CRC-32 streams, the state exported and imported as a
//!   [`STATE_VERSION`](tileos_protocol::checksum::STATE_VERSION) blob;
//! - [`lineage_b`]: the same service written again independently (its own CRC, Adler-32 and
//!   stream bookkeeping; the same answers and state format), for N-version execution.
//!
//! - [`faults`]: the misbehaving challengers (wrong on 0x42, fault after N requests, slow);
//! - [`client`]: the demo client's request generator and reference model;
//! - [`probe`]: the slot probe's bookkeeping (when an interrupt woke it, its longest waits).
//!
//! Every implementation is a [`SlotModule`](tileos_protocol::module::SlotModule), so a module
//! program is `tileos_sys::module::run(Checksummer::<Bitwise>::new())`.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod adler32;
pub mod client;
pub mod crc32;
pub mod faults;
pub mod lineage_b;
pub mod probe;
mod service;

pub use service::{Algorithms, Bitwise, Checksummer, SliceBy8, StateError, decode_state, encode_state};
