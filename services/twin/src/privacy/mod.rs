//! The export gate: what may leave the tile, and at what privacy cost.
//!
//! **No raw path.** Raw samples live in a [`SampleWindow`], which has no accessor for them
//! (and a `Debug` that prints only its length). The only way anything derived from a window
//! leaves is [`ExportGate::export`], which returns a [`Release`]: one noised aggregate —
//! count, clipped sum or clipped mean ([`Aggregate`]) — plus its cost.
//!
//! **Mechanisms** ([`Mechanism`], noise in [`RandomSource`]'s docs and the `noise` module):
//! Laplace noise by Mironov's snapping mechanism (pure ε-DP), or Gaussian noise with the
//! classical calibration `σ = Δ₂·√(2 ln(1.25/δ))/ε`, ε < 1 (Dwork & Roth, *The Algorithmic
//! Foundations of Differential Privacy*, 2014, Theorem A.1; (ε, δ)-DP). Sensitivities are for
//! add/remove-one-sample neighbours: 1 for a count, `max(|lo|, |hi|)` for a sum clipped to
//! `[lo, hi]`; a mean is a noisy sum of `x − midpoint` (sensitivity `(hi − lo)/2`) over a noisy
//! count, each with half the budget, as Google's differential-privacy library computes its
//! `BoundedMean`. Clipping, and clamping a count or mean into its range, are pre- and
//! post-processing and cost nothing. Sums are computed in `f64`, so the sensitivities used are
//! inflated by the worst-case rounding of a recursive sum over `max_window` terms (Higham's
//! bound; Casacuberta, Shoemate, Vadhan, Wagaman, "Widespread Underestimation of
//! Sensitivity in Differentially Private Libraries and How to Fix It", CCS 2022).
//!
//! **Accounting.** Each query carries its own ε (and δ for Gaussian). Each [`Recipient`] has
//! a budget `(ε_total, δ_total)` set once. Charges compose by **basic sequential
//! composition**: the recipient's spend is `(Σ εᵢ, Σ δᵢ)` (Dwork & Roth, Theorem 3.16), which
//! is what OpenDP's sequential-composition odometer (`make_fully_adaptive_composition`, whose
//! `CompositionMeasure::compose` for `MaxDivergence` and `Approximate` measures adds the
//! parameters with upward rounding) and Google's PipelineDP `NaiveBudgetAccountant` compute
//! for these mechanisms. The queries may be chosen adaptively: with a total fixed in
//! advance, "refuse any query whose charge would take the sum past the total" is a valid
//! privacy filter for basic composition (Rogers, Roth, Ullman, Vadhan, "Privacy Odometers
//! and Filters: Pay-as-you-Go Composition", NeurIPS 2016).
//! Basic composition is loose for many (ε, δ) queries: advanced composition, zCDP or PLD accounting (Google's
//! `dp_accounting`) would allow more queries for the same guarantee; we chose the bound
//! whose correctness is evident from the code. Spends are integer fixed point
//! ([`Epsilon`]: micro-ε, [`Delta`]: femto-δ), rounded **up** for every charge and **down**
//! for budgets, exactly (the `fixed` module), so floating-point error can never under-count,
//! and a query is refused unless its whole charge fits: once a budget is spent, every
//! further export to that recipient is refused with [`ExportError::BudgetExhausted`] naming
//! the recipient, what remains and what was asked.
//!
//! **What the guarantee covers.** The budget bounds what one recipient can learn about any
//! one *sample* of the windows its queries read. Budgets are per recipient: recipients who
//! collude add their budgets. Samples are the unit of privacy; a person near the tile for
//! an hour appears in many samples, so their protection is the per-sample ε times the
//! samples they contribute to (group privacy) unless windows are built with one sample per
//! person. Queries over *disjoint* windows could use parallel composition; we charge them
//! sequentially anyway (conservative).
//!
//! **Persistence.** [`ExportGate::to_bytes`] writes the ledger (configuration, accounts,
//! export log) as a versioned, CRC-32C-checked postcard frame; [`ExportGate::from_bytes`]
//! refuses a truncated, corrupt, foreign-version or inconsistent ledger with a
//! [`LedgerError`] and never substitutes an empty one, because a reset ledger would refund
//! every spend. The domain writes the ledger to the store before a release leaves the tile.

mod fixed;
mod gate;
mod noise;

pub use fixed::{DELTA_SCALE, Delta, EPSILON_SCALE, Epsilon, MAX_EPSILON, ParamError};
pub use gate::{
    Account, Aggregate, AggregateKind, Allowance, Bounds, BoundsError, ExportError, ExportGate, ExportRecord, GateConfig, LEDGER_MAGIC,
    LEDGER_VERSION, LedgerError, MAX_LOG, MAX_NAME, MAX_WINDOW, Mechanism, NameError, Outcome, Query, QueryName, Recipient, Refusal,
    Release, SampleWindow, WindowError,
};
pub use noise::RandomSource;
