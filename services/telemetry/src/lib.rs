//! Per-domain telemetry figures (docs/telemetry.md): what a domain's runtime records about
//! its own protocol calls, what the kernel and the supervisor add (CPU time, faults,
//! restarts), a power estimate model, and the compact form in which the figures are
//! reported.
//!
//! * [`histogram`]: a fixed-size log2 latency histogram — constant-time record without
//!   allocation, mergeable, percentiles with a stated bucket error — and its lock-free
//!   static twin [`histogram::AtomicHistogram`] that the domain runtime records into.
//! * [`figures`]: one domain's cumulative figures (calls, faults, restarts, CPU ticks,
//!   latency histogram), the interval between two of them, and (feature `report`) the
//!   conversion to the twin's [`tileos_twin::state::TelemetrySample`], from which the twin's
//!   compute state and drift monitor take over.
//! * [`comparisons`]: a slot's mirrored-answer comparisons as totals that only grow (what
//!   a slot manager reports for the immune system's disagreement detector).
//! * [`power`]: a documented power estimate *model* (idle plus active watts times CPU share),
//!   not a measurement.
//! * [`wire`] (feature `wire`, part of `report`): the figures as a compact postcard message, sparse in the
//!   histogram, with every decoded field checked.
//!
//! * [`collector`] (feature `collector`): the telemetry domain's accounts of the reporting
//!   domains and the per-domain figures it serves.
//! * [`immune`] (feature `immune`): the supervisor's immune system per domain — the twin's
//!   drift monitor fed with reporting intervals, alarms turned into configured actions.
//!
//! Cache misses are not here: they need the CPU's performance counters, and QEMU's TCG
//! (where tileos runs its tests and benchmarks) emulates none.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(any(feature = "collector", feature = "immune"))]
extern crate alloc;
#[cfg(test)]
extern crate std;

#[cfg(feature = "collector")]
pub mod collector;
pub mod comparisons;
pub mod figures;
pub mod histogram;
#[cfg(feature = "immune")]
pub mod immune;
pub mod power;
#[cfg(feature = "wire")]
pub mod wire;

pub use figures::DomainFigures;
pub use histogram::{AtomicHistogram, BUCKETS, Histogram};
