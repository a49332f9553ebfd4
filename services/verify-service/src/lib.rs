//! The verify domain's state and logic (docs/inference.md, "The verify domain" and "The ask
//! path"), host-tested; `userland/services/verify` is the thin domain around it.
//!
//! - [`desk`]: [`desk::Desk`] holds the signed routing policy, Plane H (the knowledge
//!   store), Plane B (canaries, secret reserve, audit book with per-node, per-topic
//!   reputation and the overfit penalty), the agreement history and the ledger. It routes a
//!   query, judges the specialists' answers through the live gate (class-A checker, class-C
//!   independence-weighted panel, T3 needs a human) and prepares the ledger entry; the
//!   domain persists the entry before [`desk::Desk::commit`] applies it, so nothing is
//!   acknowledged that a restart could lose.
//! - [`audit`]: Plane B audits on the tile, as persisted ([`audit::AuditRecord`]): a
//!   specialist's answers to drawn canaries, replayed into the audit book at start.
//! - [`challenge`]: adapters as slot challengers: a second accepted adapter answers the
//!   slot's live class-A questions unseen, is promoted on its checker pass rate, and is
//!   rolled back if that rate falls in the rollback window.
//! - [`task`]: reads a class-A query (an arithmetic expression, or `N unit in unit`) into
//!   the task its checker judges.
//! - [`acceptance`]: DIIP class 1 adapter acceptance: the canary battery and a trigger
//!   probe that does not know the trigger.
//! - [`provenance`]: a specialist's lineage and provenance in the signed policy against
//!   its adapter's signed bundle manifest (checked at acceptance).
//! - [`dev_keys`]: the DEV ONLY keys of the dev tile (routing policy signer, knowledge
//!   contributor, ledger).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod acceptance;
pub mod audit;
pub mod challenge;
pub mod desk;
pub mod dev_keys;
pub mod provenance;
pub mod task;
