//! One node's evidence and slashing state for one topic, and its raw reputation
//! `R = Ĉ · N^γ · S · g(stake)` (seed §9.9).

use crate::{Error, Params};

/// One scored audit of a node on a topic (seed §9.9: `t_a`, `d_a`, `o_a`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Audit {
    /// When the audit was scored (`t_a`), in the same unit as [`Params::half_life`].
    pub time: f64,
    /// Task difficulty `d_a` ∈ (0, 1]: how much evidence one audit carries.
    pub difficulty: f64,
    /// Outcome `o_a` ∈ [0, 1]: 1 = passed, 0 = failed, between = partial credit.
    pub outcome: f64,
}

/// A reputation value with every factor of the formula, so callers can show *why* a node
/// weighs what it weighs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reputation {
    /// Decayed evidence mass `N`.
    pub mass: f64,
    /// Decayed pass-rate `C`; `None` while `N = 0` (the seed's quotient is undefined).
    pub pass_rate: Option<f64>,
    /// Shrunk competence `Ĉ`; equals `C₀` while `N = 0`.
    pub competence: f64,
    /// Slashing factor `S` ∈ [0, 1].
    pub slashing: f64,
    /// Stake factor `g(stake)` ∈ [1, g_max].
    pub stake_factor: f64,
    /// Raw reputation `R = Ĉ · N^γ · S · g(stake)`.
    pub raw: f64,
}

/// The last slash: `S` right after it and when it happened.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Slash {
    level: f64,
    at: f64,
}

/// One node's record for one topic: the decayed sums `Σ d·e^(−λ(τ−t))` and
/// `Σ d·e^(−λ(τ−t))·o` as of the latest time seen, plus the last slash. Audits may arrive
/// out of order; the sums are the same as if they had arrived sorted.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TopicRecord {
    as_of: Option<f64>,
    mass: f64,
    passed: f64,
    slash: Option<Slash>,
}

/// `e^(−λΔ)` with `λ = ln2/T½`, written as `2^(−Δ/T½)` so whole half-lives are exact.
fn decay(half_life: f64, elapsed: f64) -> f64 {
    libm::exp2(-elapsed / half_life)
}

fn finite_time(t: f64) -> Result<f64, Error> {
    if t.is_finite() { Ok(t) } else { Err(Error::NonFiniteTime) }
}

/// The stake factor `g(stake) = min(1 + β·ln(1 + stake/stake₀), g_max)`: concave and
/// capped, so stake is skin in the game but cannot buy dominance.
pub fn stake_factor(p: &Params, stake: f64) -> Result<f64, Error> {
    p.validate()?;
    if !(stake.is_finite() && stake >= 0.0) {
        return Err(Error::Stake);
    }
    Ok((1.0 + p.beta * libm::log1p(stake / p.stake0)).min(p.g_max))
}

impl TopicRecord {
    /// An empty record: no evidence, never slashed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one audit. An audit older than the record's latest time is decayed into the
    /// sums directly; a newer one first moves the whole record forward to its time.
    pub fn record(&mut self, p: &Params, audit: Audit) -> Result<(), Error> {
        p.validate()?;
        let time = finite_time(audit.time)?;
        if !(audit.difficulty > 0.0 && audit.difficulty <= 1.0) {
            return Err(Error::Difficulty);
        }
        if !(0.0..=1.0).contains(&audit.outcome) {
            return Err(Error::Outcome);
        }
        let weight = match self.as_of {
            Some(as_of) if time <= as_of => audit.difficulty * decay(p.half_life, as_of - time),
            _ => {
                let (mass, passed) = self.sums_at(p, time)?;
                self.mass = mass;
                self.passed = passed;
                self.as_of = Some(time);
                audit.difficulty
            }
        };
        self.mass += weight;
        self.passed += weight * audit.outcome;
        Ok(())
    }

    /// `(N, N·C)` at `now`, which must not precede the record's latest time.
    fn sums_at(&self, p: &Params, now: f64) -> Result<(f64, f64), Error> {
        match self.as_of {
            None => Ok((0.0, 0.0)),
            Some(as_of) if now < as_of => Err(Error::TimeBeforeRecord),
            Some(as_of) => {
                let f = decay(p.half_life, now - as_of);
                Ok((self.mass * f, self.passed * f))
            }
        }
    }

    /// The slashing factor `S` at `now`. 1 if never slashed. After a slash that left
    /// `S = s₀` at time `t_s`, the gap to 1 halves every `recovery_half_life`:
    /// `S(τ) = 1 − (1 − s₀)·2^(−(τ − t_s)/T_rec)`. This recovery law is our reading of the
    /// seed's "recovers slowly"; the seed fixes only the drop (×0.1).
    pub fn slashing(&self, p: &Params, now: f64) -> Result<f64, Error> {
        p.validate()?;
        let now = finite_time(now)?;
        match self.slash {
            None => Ok(1.0),
            Some(s) if now < s.at => Err(Error::TimeBeforeRecord),
            Some(s) => Ok(1.0 - (1.0 - s.level) * decay(p.recovery_half_life, now - s.at)),
        }
    }

    /// Records a slash at `now` (caught cheating, lost a challenge, collusion):
    /// `S ← S(now) · slash_factor`. Burning the stake is the caller's business, since the
    /// stake belongs to the node, not to one topic.
    pub fn slash(&mut self, p: &Params, now: f64) -> Result<(), Error> {
        let level = self.slashing(p, now)? * p.slash_factor;
        self.slash = Some(Slash { level, at: now });
        Ok(())
    }

    /// The node's reputation on this topic at `now`, holding `stake`.
    pub fn reputation(&self, p: &Params, stake: f64, now: f64) -> Result<Reputation, Error> {
        let slashing = self.slashing(p, now)?;
        let stake_factor = stake_factor(p, stake)?;
        let (mass, passed) = self.sums_at(p, now)?;
        let pass_rate = (mass > 0.0).then(|| passed / mass);
        let competence = (passed + p.kappa * p.prior_competence) / (mass + p.kappa);
        let raw = competence * libm::pow(mass, p.gamma) * slashing * stake_factor;
        Ok(Reputation { mass, pass_rate, competence, slashing, stake_factor, raw })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit(time: f64, difficulty: f64, outcome: f64) -> Audit {
        Audit { time, difficulty, outcome }
    }

    #[test]
    fn empty_record_is_prior_with_zero_reputation() {
        let p = Params::default();
        let r = TopicRecord::new().reputation(&p, 0.0, 10.0).unwrap();
        assert_eq!(r.mass, 0.0);
        assert_eq!(r.pass_rate, None);
        assert_eq!(r.competence, p.prior_competence);
        assert_eq!(r.raw, 0.0);
    }

    #[test]
    fn one_half_life_halves_mass_exactly() {
        let p = Params::default();
        let mut rec = TopicRecord::new();
        rec.record(&p, audit(0.0, 0.8, 1.0)).unwrap();
        let r = rec.reputation(&p, 0.0, p.half_life).unwrap();
        assert_eq!(r.mass, 0.4);
        assert_eq!(r.pass_rate, Some(1.0));
    }

    #[test]
    fn a_newer_audit_moves_the_record_forward_first() {
        // Difficulty 1 at t = 0, then at t = one half-life: the first has decayed to 1/2
        // before the second is added, and the record is as of the second.
        let p = Params::default();
        let mut rec = TopicRecord::new();
        rec.record(&p, audit(0.0, 1.0, 1.0)).unwrap();
        rec.record(&p, audit(p.half_life, 1.0, 1.0)).unwrap();
        assert_eq!((rec.mass, rec.as_of), (1.5, Some(p.half_life)));
    }

    #[test]
    fn stake_counts_in_units_of_stake0() {
        // g(stake) = 1 + β·ln(1 + stake/stake₀): with stake₀ = 2, a stake of 2 gives ln 2.
        let p = Params { stake0: 2.0, ..Params::default() };
        assert_eq!(stake_factor(&p, 2.0), Ok(1.0 + p.beta * libm::log1p(1.0)));
    }

    #[test]
    fn bad_inputs_are_rejected() {
        let p = Params::default();
        let mut rec = TopicRecord::new();
        assert_eq!(rec.record(&p, audit(f64::NAN, 0.5, 1.0)), Err(Error::NonFiniteTime));
        assert_eq!(rec.record(&p, audit(0.0, 0.0, 1.0)), Err(Error::Difficulty));
        assert_eq!(rec.record(&p, audit(0.0, 1.1, 1.0)), Err(Error::Difficulty));
        assert_eq!(rec.record(&p, audit(0.0, 0.5, -0.1)), Err(Error::Outcome));
        rec.record(&p, audit(5.0, 0.5, 1.0)).unwrap();
        assert_eq!(rec.reputation(&p, 0.0, 4.0), Err(Error::TimeBeforeRecord));
        assert_eq!(rec.reputation(&p, -1.0, 6.0), Err(Error::Stake));
        let bad = Params { gamma: 2.0, ..p };
        assert_eq!(rec.reputation(&bad, 0.0, 6.0), Err(Error::InvalidParam(crate::Param::Gamma)));
    }

    #[test]
    fn stake_factor_is_concave_and_capped() {
        let p = Params::default();
        assert_eq!(stake_factor(&p, 0.0), Ok(1.0));
        let g1 = stake_factor(&p, 1.0).unwrap();
        let g2 = stake_factor(&p, 2.0).unwrap();
        assert!(g1 > 1.0 && g2 > g1 && g2 - g1 < g1 - 1.0);
        assert_eq!(stake_factor(&p, 1e12), Ok(p.g_max));
    }

    #[test]
    fn slash_drops_at_once_and_recovers_slowly() {
        let p = Params::default();
        let mut rec = TopicRecord::new();
        rec.slash(&p, 100.0).unwrap();
        assert!((rec.slashing(&p, 100.0).unwrap() - 0.1).abs() < 1e-15);
        let later = rec.slashing(&p, 100.0 + p.recovery_half_life).unwrap();
        assert!((later - 0.55).abs() < 1e-12);
        // A second slash compounds on what was left.
        rec.slash(&p, 100.0 + p.recovery_half_life).unwrap();
        let s = rec.slashing(&p, 100.0 + p.recovery_half_life).unwrap();
        assert!((s - 0.055).abs() < 1e-12);
        assert_eq!(rec.slashing(&p, 0.0), Err(Error::TimeBeforeRecord));
    }
}
