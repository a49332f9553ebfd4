//! The knobs of seed §9.9, their defaults and their validation.

use crate::Error;

/// Names a parameter in [`Error::InvalidParam`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// [`Params::half_life`]
    HalfLife,
    /// [`Params::kappa`]
    Kappa,
    /// [`Params::prior_competence`]
    PriorCompetence,
    /// [`Params::gamma`]
    Gamma,
    /// [`Params::slash_factor`]
    SlashFactor,
    /// [`Params::recovery_half_life`]
    RecoveryHalfLife,
    /// [`Params::beta`]
    Beta,
    /// [`Params::stake0`]
    Stake0,
    /// [`Params::g_max`]
    GMax,
    /// [`Params::w_max`]
    WMax,
}

/// Reputation parameters for one topic. Times are in one caller-chosen unit (the defaults
/// assume days). [`Params::default`] gives the seed's values where the seed fixes one, and
/// documented choices of ours where it leaves the value open ("calibrated per topic").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Evidence half-life `T½ = ln2/λ`, > 0. Seed: calibrated per topic; default 30.
    pub half_life: f64,
    /// Shrinkage strength κ (pseudo-evidence of prior competence), > 0. Default 5.
    pub kappa: f64,
    /// Prior competence `C₀` ∈ [0, 1]. Default 0.5.
    pub prior_competence: f64,
    /// Volume exponent γ ∈ (0, 1) (seed: sub-linear). Default 0.5.
    pub gamma: f64,
    /// Factor applied to `S` on each slash, ∈ [0, 1). Seed: 0.1.
    pub slash_factor: f64,
    /// Half-life of the remaining gap `1 − S` after a slash, > 0. The seed says only
    /// "recovers slowly"; default 180 (six evidence half-lives).
    pub recovery_half_life: f64,
    /// Stake sensitivity β ≥ 0. Default 0.25.
    pub beta: f64,
    /// Stake scale `stake₀` > 0. Default 1.
    pub stake0: f64,
    /// Stake factor cap `g_max` ≥ 1. Seed: 2 ("×2").
    pub g_max: f64,
    /// Largest share of a topic's vote one node may hold, ∈ (0, 1]. Seed: 10–20 %;
    /// default 0.15.
    pub w_max: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            half_life: 30.0,
            kappa: 5.0,
            prior_competence: 0.5,
            gamma: 0.5,
            slash_factor: 0.1,
            recovery_half_life: 180.0,
            beta: 0.25,
            stake0: 1.0,
            g_max: 2.0,
            w_max: 0.15,
        }
    }
}

impl Params {
    /// Checks every parameter against its documented range (NaN and ±∞ are rejected
    /// everywhere), reporting the first offender.
    pub fn validate(&self) -> Result<(), Error> {
        let checks = [
            (positive(self.half_life), Param::HalfLife),
            (positive(self.kappa), Param::Kappa),
            ((0.0..=1.0).contains(&self.prior_competence), Param::PriorCompetence),
            (self.gamma > 0.0 && self.gamma < 1.0, Param::Gamma),
            ((0.0..1.0).contains(&self.slash_factor), Param::SlashFactor),
            (positive(self.recovery_half_life), Param::RecoveryHalfLife),
            (self.beta.is_finite() && self.beta >= 0.0, Param::Beta),
            (positive(self.stake0), Param::Stake0),
            (self.g_max.is_finite() && self.g_max >= 1.0, Param::GMax),
            (self.w_max > 0.0 && self.w_max <= 1.0, Param::WMax),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some(&(_, param)) => Err(Error::InvalidParam(param)),
            None => Ok(()),
        }
    }
}

fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Params::default().validate(), Ok(()));
    }

    #[test]
    fn nonsense_is_rejected_by_name() {
        let d = Params::default();
        let cases: [(Params, Param); 15] = [
            (Params { half_life: 0.0, ..d }, Param::HalfLife),
            (Params { half_life: f64::INFINITY, ..d }, Param::HalfLife),
            (Params { kappa: -1.0, ..d }, Param::Kappa),
            (Params { prior_competence: 1.5, ..d }, Param::PriorCompetence),
            (Params { gamma: 1.0, ..d }, Param::Gamma),
            (Params { gamma: f64::NAN, ..d }, Param::Gamma),
            (Params { gamma: 0.0, ..d }, Param::Gamma),
            (Params { slash_factor: 1.0, ..d }, Param::SlashFactor),
            (Params { recovery_half_life: -3.0, ..d }, Param::RecoveryHalfLife),
            (Params { beta: f64::NAN, ..d }, Param::Beta),
            (Params { beta: -1.0, ..d }, Param::Beta),
            (Params { beta: f64::INFINITY, ..d }, Param::Beta),
            (Params { stake0: 0.0, ..d }, Param::Stake0),
            (Params { g_max: 0.5, ..d }, Param::GMax),
            (Params { w_max: 0.0, ..d }, Param::WMax),
        ];
        for (p, which) in cases {
            assert_eq!(p.validate(), Err(Error::InvalidParam(which)));
        }
    }
}
