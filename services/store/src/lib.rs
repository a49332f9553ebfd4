//! The persistent store's logic: a log-structured, crash-consistent object store over a
//! [`BlockDevice`] (512-byte or larger sectors, a volatile write cache, a flush), for the
//! store domain (docs/store.md has the format, recovery and compaction).
//!
//! * [`Store`]: put, get (whole or in chunks), delete, list by prefix and atomic batches,
//!   per namespace with byte and key quotas ([`NamespaceConfig`]); every mutation is
//!   [`Durability::Durable`] (on the medium when it returns) or [`Durability::Buffered`].
//! * Every record carries CRC-32C checksums; two superblock copies with generations.
//! * [`Store::mount`] replays the log and returns a [`RecoveryReport`] naming what it
//!   discarded; [`Store::compact_step`] reclaims dead space in bounded steps.
//! * [`service`]: the store protocol (`tileos_protocol::store`) served over a [`Store`],
//!   badges mapped to namespaces, every span of a client's region checked.
//! * [`clients`]: the client table, badges to namespaces and quotas, from the description's
//!   endpoint parameters (one packed `quota` parameter per client, or the older forms).
//! * `sim` (tests, cargo feature `sim`): an in-memory device with a volatile cache that
//!   loses, reorders and tears unflushed writes, flips bits and fails calls.
//!
//! Limits: keys 1..=[`MAX_KEY_LEN`] bytes, values 0..=[`MAX_VALUE_LEN`] bytes (4 MiB),
//! batches of up to [`MAX_BATCH_OPS`] operations. Memory: the index (about 130 bytes plus
//! the key per live key) and, during an operation, one 64 KiB write buffer and one 4 KiB
//! frame; `get` also allocates the value (use `read` to stream it instead).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod clients;
mod compact;
mod device;
mod error;
mod format;
mod index;
mod log;
mod recovery;
pub mod service;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
mod store;
#[cfg(test)]
mod tests;

pub use compact::CompactProgress;
pub use device::{BlockDevice, DeviceError};
pub use error::{Corruption, Error, KEY_PREFIX, Limit};
pub use format::{MAX_BATCH_OPS, MAX_KEY_LEN, MAX_VALUE_LEN};
pub use index::Usage;
pub use recovery::{Cause, DamagedRecord, Discarded, MAX_REPORTED_SEQS, RecoveryReport};
pub use store::{BatchOp, Durability, MountFailure, NamespaceConfig, Space, Store};
