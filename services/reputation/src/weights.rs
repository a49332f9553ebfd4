//! Vote weights with share clipping: `w_i = min(R_i, θ) / Σ_j min(R_j, θ)`, θ chosen so
//! that no node holds more than `w_max` of a topic's vote (seed §9.9, "structural anti-51%").
//!
//! The largest share `h(θ) = θ / Σ_j min(R_j, θ)` (once θ is below the top reputation)
//! is continuous and non-decreasing in θ and tends to `1/n` as θ → 0, where `n` is the
//! number of nodes with `R > 0`. Hence the bound is achievable **iff `n · w_max ≥ 1`**.
//! When it is, the largest θ with `h(θ) ≤ w_max` is found exactly by water-filling over
//! the sorted reputations (clip as little as possible). When it is not, the code uses the
//! best achievable clipping instead: θ = the smallest positive reputation, which gives all
//! `n` positive nodes the same weight `1/n`, and reports `bound_met = false`.
//!
//! Computation is relative to the top reputation, so any finite inputs work; a node whose
//! reputation is more than ~1e308 times below the top one counts as zero.

use alloc::vec::Vec;

use crate::{Error, Params};

/// The result of [`vote_weights`].
#[derive(Debug, Clone, PartialEq)]
pub struct VoteWeights {
    /// The clipping threshold θ actually used (no clipping when θ is the top reputation).
    pub theta: f64,
    /// One weight per input reputation, in input order; they sum to 1 (up to rounding)
    /// and nodes with `R = 0` get 0.
    pub weights: Vec<f64>,
    /// Whether every weight is at most `w_max` (up to rounding), i.e. whether
    /// `n · w_max ≥ 1` for the `n` nodes with positive reputation.
    pub bound_met: bool,
}

/// Computes clipped vote weights for one topic from the nodes' raw reputations.
/// Errors on a negative or non-finite reputation, and when no reputation is positive.
pub fn vote_weights(p: &Params, reputations: &[f64]) -> Result<VoteWeights, Error> {
    p.validate()?;
    if let Some(i) = reputations.iter().position(|r| !(r.is_finite() && *r >= 0.0)) {
        return Err(Error::Reputation(i));
    }
    // Work relative to the top reputation, so sums cannot overflow and θ cannot underflow.
    let top = reputations.iter().copied().fold(0.0, f64::max);
    if top == 0.0 {
        return Err(Error::NoPositiveReputation);
    }
    let scaled: Vec<f64> = reputations.iter().map(|r| relative(*r, top)).collect();
    let mut sorted: Vec<f64> = scaled.iter().copied().filter(|r| *r > 0.0).collect();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let (theta, bound_met) = clip_threshold(&sorted, p.w_max)?;
    let capped = |r: &f64| r.min(theta);
    let total: f64 = scaled.iter().map(capped).sum();
    let weights = scaled.iter().map(|r| capped(r) / total).collect();
    let theta = theta * top;
    Ok(VoteWeights { theta, weights, bound_met })
}

/// `r / top`, with ratios below the smallest normal `f64` (about 1e-308) counted as 0.
fn relative(r: f64, top: f64) -> f64 {
    let x = r / top;
    if x >= f64::MIN_POSITIVE { x } else { 0.0 }
}

/// θ (relative to the top reputation) for positive reputations sorted in descending order, and whether `w_max` is met.
fn clip_threshold(sorted: &[f64], w_max: f64) -> Result<(f64, bool), Error> {
    let (&top, &smallest) = match (sorted.first(), sorted.last()) {
        (Some(top), Some(smallest)) => (top, smallest),
        _ => return Err(Error::NoPositiveReputation),
    };
    // suffix[k] = Σ sorted[k..], summed from the small end so that a tiny tail is not
    // lost to cancellation against a huge head.
    let mut suffix = Vec::with_capacity(sorted.len() + 1);
    suffix.push(0.0);
    for r in sorted.iter().rev() {
        suffix.push(suffix[suffix.len() - 1] + r);
    }
    suffix.reverse();
    if top / suffix[0] <= w_max {
        return Ok((top, true));
    }
    // For θ in [sorted[k], sorted[k-1]] the k largest are capped and the rest are not,
    // so h(θ) = θ / (kθ + suffix[k]). Solve h(θ) = w_max on the first (highest) piece
    // whose lower end already satisfies the bound.
    for k in 1..sorted.len() {
        let capped_share = k as f64 * w_max;
        if capped_share < 1.0 {
            let theta = w_max * suffix[k] / (1.0 - capped_share);
            if theta >= sorted[k] {
                return Ok((theta, true));
            }
        }
    }
    // Even equal weights 1/n exceed w_max: n · w_max < 1.
    Ok((smallest, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_w_max(w_max: f64) -> Params {
        Params { w_max, ..Params::default() }
    }

    #[test]
    fn no_clipping_when_nobody_dominates() {
        let w = vote_weights(&with_w_max(0.5), &[1.0, 1.0, 2.0]).unwrap();
        assert_eq!(w.theta, 2.0);
        assert_eq!(w.weights, [0.25, 0.25, 0.5]);
        assert!(w.bound_met);
    }

    #[test]
    fn dominant_node_is_clipped_to_w_max() {
        // Ten nodes: one with 100, nine with 1. w_max 0.2: θ = 0.2·9/(1−0.2) = 2.25.
        let mut r = [1.0; 10];
        r[3] = 100.0;
        let w = vote_weights(&with_w_max(0.2), &r).unwrap();
        assert!((w.theta - 2.25).abs() < 1e-12);
        assert!((w.weights[3] - 0.2).abs() < 1e-12);
        assert!(w.bound_met);
    }

    #[test]
    fn too_few_nodes_get_equal_weights() {
        let w = vote_weights(&with_w_max(0.15), &[5.0, 0.0, 1.0, 3.0]).unwrap();
        assert!(!w.bound_met);
        assert_eq!(w.theta, 1.0);
        assert_eq!(w.weights, [1.0 / 3.0, 0.0, 1.0 / 3.0, 1.0 / 3.0]);
    }

    #[test]
    fn exact_boundary_n_times_w_max_equals_one() {
        let w = vote_weights(&with_w_max(0.25), &[8.0, 4.0, 2.0, 1.0]).unwrap();
        assert!(w.bound_met);
        assert_eq!(w.weights, [0.25; 4]);
    }

    #[test]
    fn bad_reputations_are_rejected() {
        let p = Params::default();
        assert_eq!(vote_weights(&p, &[1.0, -1.0]), Err(Error::Reputation(1)));
        assert_eq!(vote_weights(&p, &[f64::NAN]), Err(Error::Reputation(0)));
        assert_eq!(vote_weights(&p, &[0.0, 0.0]), Err(Error::NoPositiveReputation));
        assert_eq!(vote_weights(&p, &[]), Err(Error::NoPositiveReputation));
    }
}
