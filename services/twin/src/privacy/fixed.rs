//! Privacy parameters in integer fixed point.
//!
//! Budgets and spends are integers — ε in micro-units (10⁻⁶), δ in femto-units (10⁻¹⁵) — so that a
//! ledger's sums are exact and independent of summation order. Converting a requested `f64`
//! rounds **up** for spends ([`Epsilon::spend`], [`Delta::spend`]) and **down** for budgets
//! ([`Epsilon::budget`], [`Delta::budget`]), exactly: the rounding direction is decided with
//! a fused multiply-add, which computes `x·scale − n` with a single rounding, and a single
//! rounding never changes the sign of a non-zero result. So the charged spend is never
//! smaller than the `f64` that was asked for, and a budget never larger than the one
//! declared, however many tiny spends are made. This is OpenDP's discipline of rounding
//! privacy-loss arithmetic conservatively (its `inf_add`, `inf_mul`: the `Sequential`
//! composition of a `fully_adaptive_composition` odometer sums with upward rounding), here
//! made exact by moving to integers at the boundary.

use serde::{Deserialize, Serialize};

/// Micro-units of ε per unit.
pub const EPSILON_SCALE: u64 = 1_000_000;
/// Femto-units of δ per unit.
pub const DELTA_SCALE: u64 = 1_000_000_000_000_000;
/// The largest ε accepted for one query or one budget. Real deployments use ε ≤ 10; the cap
/// keeps every sum far from `u64` overflow (sums are still checked).
pub const MAX_EPSILON: f64 = 1000.0;

/// Why a privacy parameter was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamError {
    /// NaN.
    NaN,
    /// ±∞.
    Infinite,
    /// Below zero.
    Negative,
    /// Zero (or, for a budget, below one fixed-point unit) where a positive value is required.
    Zero,
    /// Above the parameter's maximum ([`MAX_EPSILON`] for ε; δ must be below 1).
    TooLarge,
}

fn classify(x: f64) -> Result<(), ParamError> {
    if x.is_nan() {
        Err(ParamError::NaN)
    } else if x.is_infinite() {
        Err(ParamError::Infinite)
    } else if x < 0.0 {
        Err(ParamError::Negative)
    } else {
        Ok(())
    }
}

/// `⌈x·scale⌉`, exactly, for finite `0 ≤ x` with `x·scale < 2⁵³` (so that one rounding of
/// the product moves it by at most half a unit). Both scales keep every accepted value below
/// 2⁵³: ε ≤ 1000 is at most 10⁹ micro-units, δ < 1 below 10¹⁵ femto-units.
fn ceil_scaled(x: f64, scale: f64) -> u64 {
    let c = libm::ceil(x * scale);
    // `fma` gives the sign of the exact x·scale − c: positive means the product was rounded
    // down onto the integer c, and the exact ceiling is c + 1.
    if libm::fma(x, scale, -c) > 0.0 { c as u64 + 1 } else { c as u64 }
}

/// `⌊x·scale⌋`, exactly, under the same conditions.
fn floor_scaled(x: f64, scale: f64) -> u64 {
    let f = libm::floor(x * scale);
    // Negative means the product was rounded up onto the integer f.
    if libm::fma(x, scale, -f) < 0.0 { f as u64 - 1 } else { f as u64 }
}

/// ε in micro-units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Epsilon(u64);

impl Epsilon {
    /// ε as charged for a query: finite, `> 0`, at most [`MAX_EPSILON`]; rounded up to whole
    /// micro-units (so `1e-9` is charged as `1e-6`).
    pub fn spend(epsilon: f64) -> Result<Self, ParamError> {
        classify(epsilon)?;
        if epsilon == 0.0 {
            return Err(ParamError::Zero);
        }
        if epsilon > MAX_EPSILON {
            return Err(ParamError::TooLarge);
        }
        Ok(Epsilon(ceil_scaled(epsilon, EPSILON_SCALE as f64)))
    }

    /// ε as a budget: finite, at most [`MAX_EPSILON`], rounded down to whole micro-units,
    /// and at least one micro-unit after rounding.
    pub fn budget(epsilon: f64) -> Result<Self, ParamError> {
        classify(epsilon)?;
        if epsilon > MAX_EPSILON {
            return Err(ParamError::TooLarge);
        }
        match floor_scaled(epsilon, EPSILON_SCALE as f64) {
            0 => Err(ParamError::Zero),
            m => Ok(Epsilon(m)),
        }
    }

    /// From micro-units.
    pub const fn from_micros(micros: u64) -> Self {
        Epsilon(micros)
    }

    /// Micro-units.
    pub const fn micros(self) -> u64 {
        self.0
    }

    /// The value as `f64` (for display and noise calibration; not for accounting).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / EPSILON_SCALE as f64
    }

    pub(crate) fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Epsilon)
    }

    pub(crate) fn saturating_sub(self, other: Self) -> Self {
        Epsilon(self.0.saturating_sub(other.0))
    }
}

/// δ in femto-units (10⁻¹⁵).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Delta(u64);

impl Delta {
    /// δ as charged for a Gaussian query: finite, in `(0, 1)`, rounded up to whole
    /// femto-units (so `1e-18` is charged as `1e-15`).
    pub fn spend(delta: f64) -> Result<Self, ParamError> {
        classify(delta)?;
        if delta == 0.0 {
            return Err(ParamError::Zero);
        }
        if delta >= 1.0 {
            return Err(ParamError::TooLarge);
        }
        Ok(Delta(ceil_scaled(delta, DELTA_SCALE as f64)))
    }

    /// δ as a budget: finite, in `[0, 1)` (zero allows only pure-ε queries), rounded down.
    pub fn budget(delta: f64) -> Result<Self, ParamError> {
        classify(delta)?;
        if delta >= 1.0 {
            return Err(ParamError::TooLarge);
        }
        Ok(Delta(floor_scaled(delta, DELTA_SCALE as f64)))
    }

    /// No δ (pure differential privacy).
    pub const ZERO: Delta = Delta(0);

    /// From femto-units.
    pub const fn from_femtos(femtos: u64) -> Self {
        Delta(femtos)
    }

    /// Femto-units.
    pub const fn femtos(self) -> u64 {
        self.0
    }

    /// The value as `f64` (for display and noise calibration; not for accounting).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / DELTA_SCALE as f64
    }

    pub(crate) fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Delta)
    }

    pub(crate) fn saturating_sub(self, other: Self) -> Self {
        Delta(self.0.saturating_sub(other.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spends_round_up_budgets_round_down() {
        assert_eq!(Epsilon::spend(1.0), Ok(Epsilon(1_000_000)));
        assert_eq!(Epsilon::budget(1.0), Ok(Epsilon(1_000_000)));
        // 0.1 as f64 is 0.1000000000000000055…: above 100000 micro-units by a hair.
        assert_eq!(Epsilon::spend(0.1), Ok(Epsilon(100_001)));
        assert_eq!(Epsilon::budget(0.1), Ok(Epsilon(100_000)));
        // 0.3 as f64 is 0.299999999999999988…: below 300000 micro-units.
        assert_eq!(Epsilon::spend(0.3), Ok(Epsilon(300_000)));
        assert_eq!(Epsilon::budget(0.3), Ok(Epsilon(299_999)));
        assert_eq!(Epsilon::spend(1e-12), Ok(Epsilon(1)));
        assert_eq!(Epsilon::budget(1e-12), Err(ParamError::Zero));
        assert_eq!(Delta::spend(1e-5), Ok(Delta(10_000_000_001)));
        assert_eq!(Delta::spend(1e-30), Ok(Delta(1)));
        assert_eq!(Delta::budget(0.0), Ok(Delta::ZERO));
    }

    #[test]
    fn rounding_is_exactly_conservative_over_many_values() {
        // For x = k/1000 + tiny perturbations, the charged units must be ≥ the exact value
        // and less than it plus one unit; checked with exact rational arithmetic on the
        // f64's integer significand.
        let exact_cmp = |x: f64, units: u64| -> core::cmp::Ordering {
            // x = m·2^e exactly; compare m·2^e·10⁶ with units.
            let bits = x.to_bits();
            let exp = ((bits >> 52) & 0x7ff) as i32;
            let m = (bits & ((1 << 52) - 1)) | if exp == 0 { 0 } else { 1 << 52 };
            let e = if exp == 0 { -1074 } else { exp - 1075 };
            let lhs = m as u128 * 1_000_000u128;
            if e >= 0 { (lhs << e).cmp(&(units as u128)) } else { lhs.cmp(&((units as u128) << (-e))) }
        };
        let mut x: f64 = 1e-7;
        while x < 10.0 {
            for y in [x, f64::from_bits(x.to_bits() + 1), f64::from_bits(x.to_bits() - 1)] {
                let up = Epsilon::spend(y).unwrap().micros();
                assert_ne!(exact_cmp(y, up), core::cmp::Ordering::Greater, "{y} charged {up}");
                assert_eq!(exact_cmp(y, up - 1), core::cmp::Ordering::Greater, "{y} charged {up}");
                if let Ok(down) = Epsilon::budget(y) {
                    assert_ne!(exact_cmp(y, down.micros()), core::cmp::Ordering::Less, "{y} budget {down:?}");
                    assert_eq!(exact_cmp(y, down.micros() + 1), core::cmp::Ordering::Less, "{y} budget {down:?}");
                }
            }
            x *= 1.0137;
        }
    }

    #[test]
    fn invalid_values_are_named() {
        for f in [Epsilon::spend as fn(f64) -> Result<Epsilon, ParamError>, Epsilon::budget] {
            assert_eq!(f(f64::NAN), Err(ParamError::NaN));
            assert_eq!(f(f64::INFINITY), Err(ParamError::Infinite));
            assert_eq!(f(f64::NEG_INFINITY), Err(ParamError::Infinite));
            assert_eq!(f(-0.5), Err(ParamError::Negative));
            assert_eq!(f(0.0), Err(ParamError::Zero));
            assert_eq!(f(1001.0), Err(ParamError::TooLarge));
        }
        assert_eq!(Delta::spend(0.0), Err(ParamError::Zero));
        assert_eq!(Delta::spend(1.0), Err(ParamError::TooLarge));
        assert_eq!(Delta::spend(-1e-9), Err(ParamError::Negative));
        assert_eq!(Delta::budget(f64::NAN), Err(ParamError::NaN));
        assert_eq!(Delta::budget(1.5), Err(ParamError::TooLarge));
    }
}
