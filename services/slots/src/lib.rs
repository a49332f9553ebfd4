//! Shadow-execution slots (DESIGN.md §6, issue #14): the decision logic of a slot as a pure
//! state machine driven by events, with no I/O.
//!
//! A slot fronts one service endpoint. Its incumbent answers every request and that answer is
//! delivered at once; each challenger (a module installed at run time) gets a mirrored copy of
//! the request, and its answer is compared with the incumbent's and counted as evidence, never
//! delivered. A [`SlotPolicy`] says how much evidence promotes a challenger; after promotion the
//! old incumbent stays warm for the rollback window and a circuit breaker rolls back on a fault,
//! on disagreement with the warm incumbent or on a latency regression. [`NVersion`] and
//! [`vote`] are the N-version mode: three lineages, the majority answer delivered, a lineage
//! that keeps dissenting replaced by the slot's fallback.
//!
//! The slot manager that owns the front endpoint, mirrors over IPC, builds challengers from
//! bundles and persists the update log is not built yet; it will drive [`Slot`] with the events
//! it sees and carry out the [`Outcome`]s it gets back. `docs/slots.md` describes the lifecycle.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod evidence;
mod nversion;
mod policy;
mod slot;

pub use evidence::{Evidence, Latency, Noise, Shortfall};
pub use nversion::{NVersion, Replacement, VoteOutcome, vote};
pub use policy::{Comparator, Equivalence, ExactOnly, PolicyError, Ratio, SlotPolicy};
pub use slot::{
    Answered, CopyTicket, Delivery, InstallRefusal, Mirror, ModuleId, ModuleView, NotApplicable, ORIGINAL_INCUMBENT, Outcome, PromoteMode,
    PromoteRefusal, PromotedBy, Reason, RequestId, Responder, RollbackRefusal, Slot, SlotCounters, State, Transition, Trip,
};

/// Time on the slot manager's monotonic clock, in microseconds (one tick is 1 µs). The system
/// description gives the policy's times in milliseconds; the image builder converts them.
pub type Ticks = u64;
