//! Class-A checker for unit conversion: a table of units with their SI dimensions and exact
//! rational factors, compound unit expressions (`km/h`, `kg*m^2/s^2`), and
//! [`check_conversion`], which judges a claimed converted value.
//!
//! A unit maps a value to SI as `si = value·factor + offset`; only temperature scales (°C, °F)
//! have an offset, and they are refused inside compound expressions (a temperature
//! *difference* per second is not a °C per second). Factors are exact (the international
//! yard and pound, the thermochemical calorie), so checks are exact.

use core::fmt;

use crate::arith::CheckOutcome;
use crate::claim::{Claim, ClaimError};
use crate::rational::{ArithError, Rational};

/// Exponents of the SI base dimensions: metre, kilogram, second, ampere, kelvin, mole.
pub type Dimension = [i8; 6];

/// The longest unit expression accepted, in bytes.
pub const MAX_UNIT_EXPR_LEN: usize = 64;
/// The largest exponent magnitude in a unit expression.
pub const MAX_UNIT_EXPONENT: u8 = 4;

/// One unit of the table.
#[derive(Clone, Copy, Debug)]
pub struct Unit {
    /// The symbol used in expressions.
    pub name: &'static str,
    /// Its dimension.
    pub dim: Dimension,
    /// SI value of one unit, as numerator and denominator.
    pub factor: (i128, i128),
    /// SI value of the scale's zero (temperatures only), as numerator and denominator.
    pub offset: (i128, i128),
}

const fn u(name: &'static str, dim: Dimension, num: i128, den: i128) -> Unit {
    Unit { name, dim, factor: (num, den), offset: (0, 1) }
}

const LEN: Dimension = [1, 0, 0, 0, 0, 0];
const MASS: Dimension = [0, 1, 0, 0, 0, 0];
const TIME: Dimension = [0, 0, 1, 0, 0, 0];
const CURRENT: Dimension = [0, 0, 0, 1, 0, 0];
const TEMP: Dimension = [0, 0, 0, 0, 1, 0];
const AMOUNT: Dimension = [0, 0, 0, 0, 0, 1];
const FORCE: Dimension = [1, 1, -2, 0, 0, 0];
const ENERGY: Dimension = [2, 1, -2, 0, 0, 0];
const POWER: Dimension = [2, 1, -3, 0, 0, 0];
const PRESSURE: Dimension = [-1, 1, -2, 0, 0, 0];
const VOLTAGE: Dimension = [2, 1, -3, -1, 0, 0];
const FREQUENCY: Dimension = [0, 0, -1, 0, 0, 0];
const VOLUME: Dimension = [3, 0, 0, 0, 0, 0];

/// The unit table.
pub const UNITS: &[Unit] = &[
    u("m", LEN, 1, 1),
    u("km", LEN, 1000, 1),
    u("cm", LEN, 1, 100),
    u("mm", LEN, 1, 1000),
    u("um", LEN, 1, 1_000_000),
    u("in", LEN, 254, 10_000),
    u("ft", LEN, 3048, 10_000),
    u("yd", LEN, 9144, 10_000),
    u("mi", LEN, 1_609_344, 1000),
    u("nmi", LEN, 1852, 1),
    u("kg", MASS, 1, 1),
    u("g", MASS, 1, 1000),
    u("mg", MASS, 1, 1_000_000),
    u("t", MASS, 1000, 1),
    u("lb", MASS, 45_359_237, 100_000_000),
    u("oz", MASS, 45_359_237, 1_600_000_000),
    u("s", TIME, 1, 1),
    u("ms", TIME, 1, 1000),
    u("min", TIME, 60, 1),
    u("h", TIME, 3600, 1),
    u("d", TIME, 86_400, 1),
    u("A", CURRENT, 1, 1),
    u("mA", CURRENT, 1, 1000),
    u("K", TEMP, 1, 1),
    Unit { name: "degC", dim: TEMP, factor: (1, 1), offset: (27_315, 100) },
    Unit { name: "degF", dim: TEMP, factor: (5, 9), offset: (45_967, 180) },
    u("mol", AMOUNT, 1, 1),
    u("N", FORCE, 1, 1),
    u("kN", FORCE, 1000, 1),
    u("J", ENERGY, 1, 1),
    u("kJ", ENERGY, 1000, 1),
    u("Wh", ENERGY, 3600, 1),
    u("kWh", ENERGY, 3_600_000, 1),
    u("cal", ENERGY, 4184, 1000),
    u("kcal", ENERGY, 4184, 1),
    u("W", POWER, 1, 1),
    u("kW", POWER, 1000, 1),
    u("MW", POWER, 1_000_000, 1),
    u("Pa", PRESSURE, 1, 1),
    u("kPa", PRESSURE, 1000, 1),
    u("bar", PRESSURE, 100_000, 1),
    u("psi", PRESSURE, 8_896_443_230_521, 1_290_320_000),
    u("V", VOLTAGE, 1, 1),
    u("kV", VOLTAGE, 1000, 1),
    u("Hz", FREQUENCY, 1, 1),
    u("L", VOLUME, 1, 1000),
    u("mL", VOLUME, 1, 1_000_000),
];

/// Why a unit expression or conversion is invalid; unit names are borrowed from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitError<'a> {
    /// The unit expression is empty.
    Empty,
    /// The unit expression is longer than [`MAX_UNIT_EXPR_LEN`].
    TooLong,
    /// No unit of this name is in the table.
    UnknownUnit(&'a str),
    /// A byte at this offset does not belong in a unit expression.
    Malformed(usize),
    /// An exponent at this offset is zero, missing or above [`MAX_UNIT_EXPONENT`].
    BadExponent(usize),
    /// A temperature scale with an offset (°C, °F) is used inside a compound expression.
    OffsetInCompound(&'a str),
    /// The two sides have different dimensions (from, to).
    DimensionMismatch(Dimension, Dimension),
    /// The value to convert is not a number.
    Value(ClaimError),
    /// The claimed result is not a number.
    Claim(ClaimError),
    /// Exact arithmetic overflowed.
    Arith(ArithError),
}

impl fmt::Display for UnitError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("unit expression is empty"),
            Self::TooLong => write!(f, "unit expression longer than {MAX_UNIT_EXPR_LEN} bytes"),
            Self::UnknownUnit(name) => write!(f, "unknown unit '{name}'"),
            Self::Malformed(at) => write!(f, "unit expression: unexpected character at byte {at}"),
            Self::BadExponent(at) => write!(f, "unit exponent at byte {at} must be 1..={MAX_UNIT_EXPONENT} or its negative"),
            Self::OffsetInCompound(name) => write!(f, "temperature scale '{name}' cannot be part of a compound unit"),
            Self::DimensionMismatch(a, b) => write!(f, "dimensions differ: {a:?} vs {b:?} (m, kg, s, A, K, mol)"),
            Self::Value(e) => write!(f, "value: {e}"),
            Self::Claim(e) => write!(f, "{e}"),
            Self::Arith(e) => write!(f, "{e}"),
        }
    }
}

/// A resolved unit expression: dimension, SI factor and offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The expression's dimension.
    pub dim: Dimension,
    /// SI value of one unit of the expression.
    pub factor: Rational,
    /// SI value of the scale's zero (non-zero only for a lone °C or °F).
    pub offset: Rational,
}

fn lookup(name: &str) -> Option<&'static Unit> {
    UNITS.iter().find(|u| u.name == name)
}

/// Resolves a unit expression `unit(^n)? (('*'|'/') unit(^n)?)*`, e.g. `kg*m^2/s^2`.
pub fn resolve(expr: &str) -> Result<Resolved, UnitError<'_>> {
    if expr.len() > MAX_UNIT_EXPR_LEN {
        return Err(UnitError::TooLong);
    }
    let s = expr.as_bytes();
    if expr.trim().is_empty() {
        return Err(UnitError::Empty);
    }
    let ar = UnitError::Arith;
    let (mut dim, mut factor, mut pos, mut sign, mut atoms) = ([0i8; 6], Rational::ONE, 0usize, 1i8, 0u32);
    let mut lone_offset = None;
    loop {
        let start = pos;
        while s.get(pos).is_some_and(u8::is_ascii_alphabetic) {
            pos += 1;
        }
        if pos == start {
            return Err(UnitError::Malformed(pos));
        }
        let name = &expr[start..pos];
        let unit = lookup(name).ok_or(UnitError::UnknownUnit(name))?;
        let mut exp = 1i8;
        if s.get(pos) == Some(&b'^') {
            pos += 1;
            let at = pos;
            let negative = s.get(pos) == Some(&b'-');
            pos += usize::from(negative);
            match s.get(pos) {
                Some(d @ b'1'..=b'9') if d - b'0' <= MAX_UNIT_EXPONENT && !s.get(pos + 1).is_some_and(u8::is_ascii_digit) => {
                    exp = (d - b'0') as i8;
                    pos += 1;
                }
                _ => return Err(UnitError::BadExponent(at)),
            }
            if negative {
                exp = -exp;
            }
        }
        let exp = exp * sign;
        atoms += 1;
        if unit.offset != (0, 1) {
            lone_offset = Some(unit);
        }
        for (d, ud) in dim.iter_mut().zip(unit.dim) {
            *d = d.checked_add(ud.checked_mul(exp).ok_or(UnitError::Malformed(start))?).ok_or(UnitError::Malformed(start))?;
        }
        let f = Rational::new(unit.factor.0, unit.factor.1).map_err(ar)?;
        factor = factor.checked_mul(f.pow(i32::from(exp)).map_err(ar)?).map_err(ar)?;
        match s.get(pos) {
            None => break,
            Some(b'*') => sign = 1,
            Some(b'/') => sign = -1,
            Some(_) => return Err(UnitError::Malformed(pos)),
        }
        pos += 1;
    }
    let offset = match lone_offset {
        None => Rational::ZERO,
        Some(unit) if atoms == 1 && dim == unit.dim => Rational::new(unit.offset.0, unit.offset.1).map_err(ar)?,
        Some(unit) => return Err(UnitError::OffsetInCompound(unit.name)),
    };
    Ok(Resolved { dim, factor, offset })
}

/// Converts `value` from one unit expression to another, exactly.
pub fn convert<'a>(value: Rational, from: &'a str, to: &'a str) -> Result<Rational, UnitError<'a>> {
    let (a, b) = (resolve(from)?, resolve(to)?);
    if a.dim != b.dim {
        return Err(UnitError::DimensionMismatch(a.dim, b.dim));
    }
    let ar = UnitError::Arith;
    let si = value.checked_mul(a.factor).and_then(|v| v.checked_add(a.offset)).map_err(ar)?;
    si.checked_sub(b.offset).and_then(|v| v.checked_div(b.factor)).map_err(ar)
}

/// Checks a claimed conversion of `value` (a number, as text) from `from` to `to`.
pub fn check_conversion<'a>(value: &str, from: &'a str, to: &'a str, claimed: &str) -> Result<CheckOutcome, UnitError<'a>> {
    let v = Claim::parse(value).map_err(UnitError::Value)?.value;
    let exact = convert(v, from, to)?;
    Ok(Claim::parse(claimed).map_err(UnitError::Claim)?.check(exact))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: i128, d: i128) -> Rational {
        Rational::new(n, d).unwrap()
    }

    #[test]
    fn table_names_are_unique_and_factors_valid() {
        for (i, a) in UNITS.iter().enumerate() {
            assert!(UNITS[i + 1..].iter().all(|b| b.name != a.name), "duplicate unit {}", a.name);
            assert!(Rational::new(a.factor.0, a.factor.1).is_ok_and(|f| f > Rational::ZERO), "{}", a.name);
        }
    }

    #[test]
    fn exact_conversions() {
        assert_eq!(convert(Rational::int(5), "km", "m").unwrap(), Rational::int(5000));
        assert_eq!(convert(Rational::int(1), "mi", "km").unwrap(), r(1_609_344, 1_000_000));
        assert_eq!(convert(Rational::int(36), "km/h", "m/s").unwrap(), Rational::int(10));
        assert_eq!(convert(Rational::int(1), "kWh", "J").unwrap(), Rational::int(3_600_000));
        assert_eq!(convert(Rational::int(1), "kg*m^2/s^2", "J").unwrap(), Rational::ONE);
        assert_eq!(convert(Rational::int(1), "W*h", "Wh").unwrap(), Rational::ONE);
        assert_eq!(convert(Rational::int(100), "degC", "degF").unwrap(), Rational::int(212));
        assert_eq!(convert(Rational::int(0), "degF", "degC").unwrap(), r(-160, 9));
        assert_eq!(convert(Rational::int(0), "degC", "K").unwrap(), r(27315, 100));
        assert_eq!(convert(Rational::int(1), "psi", "Pa").unwrap(), r(8_896_443_230_521, 1_290_320_000));
        assert_eq!(convert(Rational::int(1), "L", "m^3").unwrap(), r(1, 1000));
        assert_eq!(convert(Rational::int(1), "Hz", "s^-1").unwrap(), Rational::ONE);
    }

    #[test]
    fn invalid_units_get_precise_errors() {
        assert_eq!(convert(Rational::ONE, "furlong", "m"), Err(UnitError::UnknownUnit("furlong")));
        assert_eq!(convert(Rational::ONE, "m", "kg"), Err(UnitError::DimensionMismatch(LEN, MASS)));
        assert_eq!(convert(Rational::ONE, "degC/s", "K/s"), Err(UnitError::OffsetInCompound("degC")));
        assert_eq!(convert(Rational::ONE, "m^0", "m"), Err(UnitError::BadExponent(2)));
        assert_eq!(convert(Rational::ONE, "m^12", "m"), Err(UnitError::BadExponent(2)));
        assert_eq!(convert(Rational::ONE, "m^", "m"), Err(UnitError::BadExponent(2)));
        assert_eq!(convert(Rational::ONE, "m//s", "m"), Err(UnitError::Malformed(2)));
        assert_eq!(convert(Rational::ONE, "m s", "m"), Err(UnitError::Malformed(1)));
        assert_eq!(convert(Rational::ONE, "", "m"), Err(UnitError::Empty));
        assert_eq!(resolve(&"m*".repeat(40)), Err(UnitError::TooLong));
    }

    #[test]
    fn checker_catches_wrong_conversions() {
        assert_eq!(check_conversion("5", "km", "m", "5000"), Ok(CheckOutcome::Pass));
        assert_eq!(check_conversion("5", "km", "m", "500"), Ok(CheckOutcome::Fail(Rational::int(5000))));
        assert_eq!(check_conversion("0", "degF", "degC", "-17.78"), Ok(CheckOutcome::Pass));
        assert_eq!(check_conversion("0", "degF", "degC", "-17.7"), Ok(CheckOutcome::Fail(r(-160, 9))));
        assert_eq!(check_conversion("1", "lb", "kg", "0.4536"), Ok(CheckOutcome::Pass));
        assert_eq!(check_conversion("x", "lb", "kg", "1"), Err(UnitError::Value(ClaimError::UnexpectedChar(0))));
        assert_eq!(check_conversion("1", "lb", "kg", ""), Err(UnitError::Claim(ClaimError::Empty)));
    }
}
