//! Exact rational numbers over checked `i128`, the arithmetic of the class-A checkers: every
//! operation either gives the exact result or an [`ArithError`], never a rounded or wrapped one.

use core::cmp::Ordering;
use core::fmt;

/// Why an exact computation could not be carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithError {
    /// An intermediate numerator or denominator left the `i128` range.
    Overflow,
    /// A division (or a negative power) by zero.
    DivisionByZero,
}

impl fmt::Display for ArithError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Overflow => "exact value exceeds 128-bit numerator or denominator",
            Self::DivisionByZero => "division by zero",
        })
    }
}

/// A rational number `num/den` in lowest terms with `den > 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rational {
    num: i128,
    den: i128,
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The full 256-bit product of two `u128`s as (high, low) halves, so comparisons never overflow.
fn wide_mul(a: u128, b: u128) -> (u128, u128) {
    const LO: u128 = u64::MAX as u128;
    let (a1, a0, b1, b0) = (a >> 64, a & LO, b >> 64, b & LO);
    let (p00, p01, p10, p11) = (a0 * b0, a0 * b1, a1 * b0, a1 * b1);
    let mid = (p00 >> 64) + (p01 & LO) + (p10 & LO);
    let low = (p00 & LO) | (mid << 64);
    let high = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (high, low)
}

impl Rational {
    /// Zero.
    pub const ZERO: Rational = Rational { num: 0, den: 1 };
    /// One.
    pub const ONE: Rational = Rational { num: 1, den: 1 };

    /// `num/den` reduced to lowest terms.
    pub fn new(num: i128, den: i128) -> Result<Self, ArithError> {
        if den == 0 {
            return Err(ArithError::DivisionByZero);
        }
        let g = gcd(num.unsigned_abs(), den.unsigned_abs());
        // g divides both, so the quotients fit back (only i128::MIN/1 keeps its magnitude).
        let (n, d) = (num.unsigned_abs() / g, den.unsigned_abs() / g);
        if n == 0 {
            return Ok(Rational::ZERO);
        }
        let d = i128::try_from(d).map_err(|_| ArithError::Overflow)?;
        let n = if (num < 0) != (den < 0) {
            0i128.checked_sub_unsigned(n).ok_or(ArithError::Overflow)?
        } else {
            i128::try_from(n).map_err(|_| ArithError::Overflow)?
        };
        Ok(Rational { num: n, den: d })
    }

    /// The integer `n`.
    pub const fn int(n: i128) -> Self {
        Rational { num: n, den: 1 }
    }

    /// Numerator (sign carrier).
    pub fn numer(&self) -> i128 {
        self.num
    }

    /// Denominator, always positive.
    pub fn denom(&self) -> i128 {
        self.den
    }

    /// `self + rhs`, exactly.
    pub fn checked_add(self, rhs: Self) -> Result<Self, ArithError> {
        let g = gcd(self.den.unsigned_abs(), rhs.den.unsigned_abs()) as i128;
        let (ld, rd) = (self.den / g, rhs.den / g);
        let a = self.num.checked_mul(rd).ok_or(ArithError::Overflow)?;
        let b = rhs.num.checked_mul(ld).ok_or(ArithError::Overflow)?;
        let den = self.den.checked_mul(rd).ok_or(ArithError::Overflow)?;
        Rational::new(a.checked_add(b).ok_or(ArithError::Overflow)?, den)
    }

    /// `-self`, exactly.
    pub fn checked_neg(self) -> Result<Self, ArithError> {
        Ok(Rational { num: self.num.checked_neg().ok_or(ArithError::Overflow)?, den: self.den })
    }

    /// `self - rhs`, exactly.
    pub fn checked_sub(self, rhs: Self) -> Result<Self, ArithError> {
        self.checked_add(rhs.checked_neg()?)
    }

    /// `self * rhs`, exactly (cross-reduced first so fewer products overflow).
    pub fn checked_mul(self, rhs: Self) -> Result<Self, ArithError> {
        let g1 = gcd(self.num.unsigned_abs(), rhs.den.unsigned_abs()).max(1) as i128;
        let g2 = gcd(rhs.num.unsigned_abs(), self.den.unsigned_abs()).max(1) as i128;
        let num = (self.num / g1).checked_mul(rhs.num / g2).ok_or(ArithError::Overflow)?;
        let den = (self.den / g2).checked_mul(rhs.den / g1).ok_or(ArithError::Overflow)?;
        Rational::new(num, den)
    }

    /// `1 / self`.
    pub fn checked_recip(self) -> Result<Self, ArithError> {
        Rational::new(self.den, self.num)
    }

    /// `self / rhs`, exactly.
    pub fn checked_div(self, rhs: Self) -> Result<Self, ArithError> {
        if rhs.num == 0 {
            return Err(ArithError::DivisionByZero);
        }
        self.checked_mul(rhs.checked_recip()?)
    }

    /// `self ^ exp` for an integer exponent (negative exponents invert), by squaring.
    pub fn pow(self, exp: i32) -> Result<Self, ArithError> {
        let mut base = if exp < 0 { self.checked_recip()? } else { self };
        let mut e = exp.unsigned_abs();
        let mut acc = Rational::ONE;
        while e > 0 {
            if e & 1 == 1 {
                acc = acc.checked_mul(base)?;
            }
            e >>= 1;
            if e > 0 {
                base = base.checked_mul(base)?;
            }
        }
        Ok(acc)
    }

    /// Whether the value is an integer.
    pub fn is_integer(&self) -> bool {
        self.den == 1
    }
}

impl PartialOrd for Rational {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rational {
    fn cmp(&self, other: &Self) -> Ordering {
        // a/b against c/d (b, d > 0): signs first, then |a|·d against |c|·b in 256 bits.
        let signs = self.num.signum().cmp(&other.num.signum());
        if signs != Ordering::Equal || self.num == 0 {
            return signs;
        }
        let l = wide_mul(self.num.unsigned_abs(), other.den.unsigned_abs());
        let r = wide_mul(other.num.unsigned_abs(), self.den.unsigned_abs());
        if self.num > 0 { l.cmp(&r) } else { r.cmp(&l) }
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 { write!(f, "{}", self.num) } else { write!(f, "{}/{}", self.num, self.den) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn r(n: i128, d: i128) -> Rational {
        Rational::new(n, d).unwrap()
    }

    #[test]
    fn reduces_and_normalises_sign() {
        assert_eq!(r(6, -4), r(-3, 2));
        assert_eq!(r(0, -7), Rational::ZERO);
        assert_eq!(r(-6, -4).denom(), 2);
        assert_eq!(Rational::new(1, 0), Err(ArithError::DivisionByZero));
    }

    #[test]
    fn exact_operations() {
        assert_eq!(r(1, 3).checked_add(r(1, 6)).unwrap(), r(1, 2));
        assert_eq!(r(1, 3).checked_sub(r(1, 2)).unwrap(), r(-1, 6));
        assert_eq!(r(2, 3).checked_mul(r(9, 4)).unwrap(), r(3, 2));
        assert_eq!(r(2, 3).checked_div(r(4, 9)).unwrap(), r(3, 2));
        assert_eq!(r(2, 3).pow(-2).unwrap(), r(9, 4));
        assert_eq!(r(5, 1).pow(0).unwrap(), Rational::ONE);
        assert_eq!(Rational::ZERO.pow(-1), Err(ArithError::DivisionByZero));
        assert_eq!(r(1, 2).checked_div(Rational::ZERO), Err(ArithError::DivisionByZero));
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        let big = Rational::int(i128::MAX);
        assert_eq!(big.checked_add(Rational::ONE), Err(ArithError::Overflow));
        assert_eq!(big.checked_mul(Rational::int(2)), Err(ArithError::Overflow));
        assert_eq!(Rational::int(i128::MIN).checked_neg(), Err(ArithError::Overflow));
        assert_eq!(Rational::int(10).pow(39), Err(ArithError::Overflow));
        assert_eq!(Rational::int(10).pow(38).unwrap(), Rational::int(10i128.pow(38)));
    }

    #[test]
    fn ordering_is_exact() {
        assert!(r(1, 3) < r(1, 2));
        assert!(r(-1, 2) < r(-1, 3));
        assert!(Rational::int(i128::MAX) > r(i128::MAX - 1, 1));
        assert!(r(i128::MAX, 3) > r(i128::MAX - 7, 3));
        assert_eq!(format!("{}", r(-3, 2)), "-3/2");
        assert_eq!(format!("{}", r(4, 2)), "2");
    }
}
