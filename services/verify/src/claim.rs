//! Reading a specialist's claimed numeric answer and deciding whether it states an exact value.
//!
//! A claim is an integer (`-12`), a decimal (`3.6`, `-0.125`) or a fraction (`7/3`). It
//! matches an exact value when it is equal to it, or when it is a decimal that is the exact
//! value correctly rounded to the claim's own number of fraction digits *and* shows at least
//! [`MIN_SIGNIFICANT_DIGITS`] significant digits (so `0.3333` passes for 1/3, but `0` does
//! not pass for 0.000001 and `3` does not pass for π-like values).

use core::fmt;

use crate::rational::{ArithError, Rational};

/// The fewest significant digits a rounded (inexact) decimal claim must show to match.
pub const MIN_SIGNIFICANT_DIGITS: u32 = 4;
/// The longest claim accepted, in bytes.
pub const MAX_CLAIM_LEN: usize = 64;

/// The result of a class-A check: passed, or failed with the value the checker computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The claimed answer states the checker's exact value.
    Pass,
    /// The claimed answer is wrong; the checker's exact value.
    Fail(Rational),
}

/// Why a claim is not a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimError {
    /// The claim is empty (after trimming spaces).
    Empty,
    /// The claim is longer than [`MAX_CLAIM_LEN`].
    TooLong,
    /// A byte at this offset is not part of a number.
    UnexpectedChar(usize),
    /// The digits do not fit exact 128-bit arithmetic.
    Arith(ArithError),
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("claimed answer is empty"),
            Self::TooLong => write!(f, "claimed answer longer than {MAX_CLAIM_LEN} bytes"),
            Self::UnexpectedChar(at) => write!(f, "claimed answer: unexpected character at byte {at}"),
            Self::Arith(e) => write!(f, "claimed answer: {e}"),
        }
    }
}

/// A parsed claim: its exact value and, for decimals, how many fraction digits and
/// significant digits it shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The value the claim states.
    pub value: Rational,
    /// Fraction digits shown (0 for integers and fractions).
    pub fraction_digits: u32,
    /// Significant digits shown (digits after leading zeros); `None` for fractions, which
    /// are always taken as exact.
    pub significant_digits: Option<u32>,
}

/// Parses an unsigned decimal literal `digits[.digits]` at the start of `s`, returning the
/// value, fraction digits, significant digits and bytes consumed. Shared with the
/// expression parser.
pub(crate) fn decimal_prefix(s: &[u8]) -> Result<(Rational, u32, u32, usize), ArithError> {
    let mut num: i128 = 0;
    let (mut frac, mut sig, mut i, mut seen_dot) = (0u32, 0u32, 0usize, false);
    while i < s.len() {
        match s[i] {
            b'0'..=b'9' => {
                let d = i128::from(s[i] - b'0');
                num = num.checked_mul(10).and_then(|n| n.checked_add(d)).ok_or(ArithError::Overflow)?;
                if seen_dot {
                    frac += 1;
                }
                if num != 0 {
                    sig += 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => break,
        }
        i += 1;
    }
    let den = 10i128.checked_pow(frac).ok_or(ArithError::Overflow)?;
    Ok((Rational::new(num, den)?, frac, sig, i))
}

impl Claim {
    /// Parses a claim (surrounding spaces allowed).
    pub fn parse(text: &str) -> Result<Claim, ClaimError> {
        if text.len() > MAX_CLAIM_LEN {
            return Err(ClaimError::TooLong);
        }
        let lead = text.len() - text.trim_start().len();
        let t = text.trim().as_bytes();
        if t.is_empty() {
            return Err(ClaimError::Empty);
        }
        let negative = t[0] == b'-';
        let start = usize::from(negative);
        let digits_at = |i: usize| t.get(i).is_some_and(u8::is_ascii_digit);
        if !digits_at(start) {
            return Err(ClaimError::UnexpectedChar(lead + start));
        }
        let (value, frac, sig, used) = decimal_prefix(&t[start..]).map_err(ClaimError::Arith)?;
        let mut end = start + used;
        if t[end - 1] == b'.' {
            return Err(ClaimError::UnexpectedChar(lead + end - 1));
        }
        let mut claim = Claim { value, fraction_digits: frac, significant_digits: Some(sig) };
        if t.get(end) == Some(&b'/') && frac == 0 {
            let (den, dfrac, _, dused) = decimal_prefix(&t[end + 1..]).map_err(ClaimError::Arith)?;
            if dused == 0 || dfrac != 0 || t[end + dused] == b'.' {
                return Err(ClaimError::UnexpectedChar(lead + end + 1));
            }
            claim.value = value.checked_div(den).map_err(ClaimError::Arith)?;
            claim.significant_digits = None;
            end += 1 + dused;
        }
        if end != t.len() {
            return Err(ClaimError::UnexpectedChar(lead + end));
        }
        if negative {
            claim.value = claim.value.checked_neg().map_err(ClaimError::Arith)?;
        }
        Ok(claim)
    }

    /// The check of this claim against the checker's exact value.
    pub fn check(&self, exact: Rational) -> CheckOutcome {
        if self.matches(exact) { CheckOutcome::Pass } else { CheckOutcome::Fail(exact) }
    }

    /// Whether this claim states `exact` (equal, or a correctly rounded decimal with enough
    /// significant digits; see the module documentation).
    pub fn matches(&self, exact: Rational) -> bool {
        if self.value == exact {
            return true;
        }
        let Some(sig) = self.significant_digits else { return false };
        if sig < MIN_SIGNIFICANT_DIGITS {
            return false;
        }
        // |exact − claim| ≤ ½·10^−frac, computed exactly; an overflow means "not provably close".
        let Some(scale) = 10i128.checked_pow(self.fraction_digits) else { return false };
        let half_ulp = match Rational::new(1, 2).and_then(|h| h.checked_div(Rational::int(scale))) {
            Ok(h) => h,
            Err(_) => return false,
        };
        match exact.checked_sub(self.value) {
            Ok(d) => {
                let d = if d < Rational::ZERO { d.checked_neg() } else { Ok(d) };
                d.is_ok_and(|d| d <= half_ulp)
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: i128, d: i128) -> Rational {
        Rational::new(n, d).unwrap()
    }

    #[test]
    fn parses_integers_decimals_fractions() {
        assert_eq!(Claim::parse(" 42 ").unwrap().value, Rational::int(42));
        assert_eq!(Claim::parse("-0.125").unwrap().value, r(-1, 8));
        let c = Claim::parse("7/3").unwrap();
        assert_eq!((c.value, c.significant_digits), (r(7, 3), None));
        let c = Claim::parse("0.00120").unwrap();
        assert_eq!((c.fraction_digits, c.significant_digits), (5, Some(3)));
    }

    #[test]
    fn rejects_malformed_claims_with_offsets() {
        assert_eq!(Claim::parse("   "), Err(ClaimError::Empty));
        assert_eq!(Claim::parse("abc"), Err(ClaimError::UnexpectedChar(0)));
        assert_eq!(Claim::parse(" 12x"), Err(ClaimError::UnexpectedChar(3)));
        assert_eq!(Claim::parse("1."), Err(ClaimError::UnexpectedChar(1)));
        assert_eq!(Claim::parse("1.2.3"), Err(ClaimError::UnexpectedChar(3)));
        assert_eq!(Claim::parse("1/0"), Err(ClaimError::Arith(ArithError::DivisionByZero)));
        assert_eq!(Claim::parse("1/2.5"), Err(ClaimError::UnexpectedChar(2)));
        assert_eq!(Claim::parse("--1"), Err(ClaimError::UnexpectedChar(1)));
        assert_eq!(Claim::parse(&"9".repeat(65)), Err(ClaimError::TooLong));
        assert_eq!(Claim::parse(&"9".repeat(60)), Err(ClaimError::Arith(ArithError::Overflow)));
    }

    #[test]
    fn rounded_decimals_need_enough_digits() {
        let third = r(1, 3);
        assert!(Claim::parse("1/3").unwrap().matches(third));
        assert!(Claim::parse("0.3333").unwrap().matches(third));
        assert!(!Claim::parse("0.3334").unwrap().matches(third));
        assert!(!Claim::parse("0.333").unwrap().matches(third), "three significant digits are too few");
        assert!(!Claim::parse("0").unwrap().matches(r(1, 1_000_000)));
        assert!(Claim::parse("-17.22").unwrap().matches(r(-155, 9)));
        assert!(!Claim::parse("-17.23").unwrap().matches(r(-155, 9)));
        assert!(!Claim::parse("2/6").unwrap().matches(r(1, 2)));
    }
}
