//! Per-topic reputation and clipped vote weights, exactly as seed `002_…` §9.9
//! ("Reputation math") specifies them.
//!
//! For node *i*, topic *t*, time τ, with audits *a* of difficulty `d_a ∈ (0,1]`,
//! outcome `o_a ∈ [0,1]` and time `t_a`:
//!
//! * evidence mass `N = Σ d_a·e^(−λ(τ−t_a))`, with `λ = ln2 / T½`;
//! * pass-rate `C = Σ d_a·e^(−λ(τ−t_a))·o_a / N`;
//! * shrunk competence `Ĉ = (N·C + κ·C₀) / (N + κ)`;
//! * raw reputation `R = Ĉ · N^γ · S · g(stake)`, with
//!   `g(stake) = min(1 + β·ln(1 + stake/stake₀), g_max)`;
//! * vote weight `w_i = min(R_i, θ) / Σ_j min(R_j, θ)`, θ chosen so that no node
//!   exceeds `w_max` of the topic's vote (see [`vote_weights`] for when that is possible).
//!
//! [`TopicRecord`] keeps one node's evidence for one topic as two decayed sums plus its
//! slashing state, so an update costs O(1) and no audit history is stored. The seed gives
//! the slashing factor `S` only qualitatively ("drops sharply (×0.1), recovers slowly");
//! the recovery law used here is ours and documented on [`TopicRecord::slashing`].
//! All arithmetic is `f64`; `exp2`/`log1p`/`pow` come from `libm` because `core` has none.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod params;
mod record;
mod weights;

pub use params::{Param, Params};
pub use record::{Audit, Reputation, TopicRecord, stake_factor};
pub use weights::{VoteWeights, vote_weights};

/// Everything that can be wrong with an input; every public function reports one of
/// these instead of panicking or producing NaN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A parameter is outside its documented range (see [`Params`]).
    InvalidParam(Param),
    /// A time value is NaN or infinite.
    NonFiniteTime,
    /// An audit's difficulty is not in `(0, 1]`.
    Difficulty,
    /// An audit's outcome is not in `[0, 1]`.
    Outcome,
    /// A stake is negative, NaN or infinite.
    Stake,
    /// A query or slash is dated before the latest time the record already reflects;
    /// evaluating the decay backwards would inflate old evidence.
    TimeBeforeRecord,
    /// The reputation at this index (input order) is negative, NaN or infinite.
    Reputation(usize),
    /// No node has positive reputation, so no vote weights exist.
    NoPositiveReputation,
}
