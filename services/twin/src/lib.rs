//! The tile's digital twin (DESIGN.md §8, "twin": the tile's digital twin; controls what data
//! leaves the tile), as a host-tested `no_std` + `alloc` core that the twin domain calls.
//! docs/twin.md is the long form, with the accounting design's citations and a worked example.
//!
//! * [`state`]: the tile's physical state (temperature, power, pump, vibration features,
//!   presence; each reading timestamped and flagged stale when too old) and its compute
//!   state (per-domain IPC calls, faults, restarts, CPU time, latency summary, and the
//!   per-interval figures derived from consecutive samples).
//! * [`vibration`]: features of one window of raw piezo samples — RMS, kurtosis, crest
//!   factor and the share of the squared-envelope spectrum at a bearing fault frequency and
//!   its harmonics (Goertzel).
//! * [`maintenance`]: a bearing-wear detector (a baseline learnt from healthy windows, then a
//!   one-sided CUSUM per feature, alarms with evidence and an onset estimate) and thermal
//!   throttle advice from the temperature and its trend.
//! * [`privacy`]: the export gate. No raw sample leaves: a [`privacy::SampleWindow`] has no
//!   accessor for its samples, and the gate releases only clipped count/sum/mean aggregates
//!   with Laplace (snapping mechanism) or Gaussian noise, charged against per-recipient
//!   (ε, δ) budgets in integer fixed point that rounds every spend up. The ledger (budgets,
//!   spends, export log) persists as a versioned, CRC-checked byte string.
//! * [`drift`]: the immune system's drift detector for the supervisor: EWMA baselines of a
//!   domain's latency percentiles, fault rate and slot disagreement rate, alarms with
//!   hysteresis, evidence and a suggested action (restart the domain, roll back its slot).
//!
//! * [`compute`]: the tile's compute state from the telemetry domain's figures (sums, the
//!   slowest reporter, the load the twin reports to the sensors domain).
//! * [`service`]: the twin domain's logic — readings of the sensor protocol in, the twin
//!   protocol (state, alarms, exports, the caller's budget and log) out, the ledger and the
//!   per-minute history handed to the domain to persist.
//! * [`drbg`]: the SHA-256 random source behind the export gate's noise in the domain.
//!
//! Everything is `f64` (`libm` supplies `ln`, `sqrt`, `cos`, `fma` without `std`); every
//! input error is a value of a precise error enum, never a panic or a NaN that escapes.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod compute;
pub mod drbg;
pub mod drift;
pub mod maintenance;
pub mod privacy;
pub mod service;
pub mod state;
mod stats;
pub mod vibration;

/// Milliseconds on the caller's clock (the domain's monotonic clock, or wall-clock time when
/// the record must survive a reboot, as the export log's does). Only differences and order
/// matter to this crate.
pub type Millis = u64;
