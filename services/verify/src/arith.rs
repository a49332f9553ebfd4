//! Class-A checker for arithmetic: a recursive-descent parser and exact evaluator of
//! arithmetic expressions, and [`check_arithmetic`], which judges a claimed answer against it.
//!
//! Grammar (spaces allowed between tokens):
//!
//! ```text
//! expr    := term (('+' | '-') term)*
//! term    := unary (('*' | '/') unary)*
//! unary   := '-' unary | power
//! power   := primary ('^' unary)?        right-associative, -2^2 = -4; the exponent must be an integer
//! primary := decimal | '(' expr ')'
//! ```
//!
//! Values are exact rationals over checked `i128` ([`Rational`]); nesting is bounded by
//! [`MAX_DEPTH`], input length by [`MAX_EXPR_LEN`], exponents by [`MAX_EXPONENT`]. Nothing is
//! allocated: a domain can evaluate per request on its stack.

use core::fmt;

pub use crate::claim::CheckOutcome;
use crate::claim::{Claim, ClaimError, decimal_prefix};
use crate::rational::{ArithError, Rational};

/// The longest expression accepted, in bytes.
pub const MAX_EXPR_LEN: usize = 256;
/// The deepest nesting of parentheses, unary minus and powers accepted.
pub const MAX_DEPTH: u32 = 32;
/// The largest exponent magnitude accepted.
pub const MAX_EXPONENT: i128 = 256;

/// Why an expression could not be evaluated; offsets are byte offsets into the expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExprError {
    /// The expression is empty or only spaces.
    Empty,
    /// The expression is longer than [`MAX_EXPR_LEN`].
    TooLong,
    /// Nesting deeper than [`MAX_DEPTH`] at this offset.
    TooDeep(usize),
    /// A byte that cannot start or continue a token here.
    UnexpectedChar(usize),
    /// The expression ended where an operand or `)` was required.
    UnexpectedEnd,
    /// An exponent (at this offset) is not an integer.
    ExponentNotInteger(usize),
    /// An exponent (at this offset) exceeds [`MAX_EXPONENT`] in magnitude.
    ExponentTooLarge(usize),
    /// Exact arithmetic failed for the operator at this offset.
    Arith(usize, ArithError),
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("expression is empty"),
            Self::TooLong => write!(f, "expression longer than {MAX_EXPR_LEN} bytes"),
            Self::TooDeep(at) => write!(f, "nesting deeper than {MAX_DEPTH} at byte {at}"),
            Self::UnexpectedChar(at) => write!(f, "unexpected character at byte {at}"),
            Self::UnexpectedEnd => f.write_str("expression ends where an operand or ')' is required"),
            Self::ExponentNotInteger(at) => write!(f, "exponent at byte {at} is not an integer"),
            Self::ExponentTooLarge(at) => write!(f, "exponent at byte {at} exceeds {MAX_EXPONENT}"),
            Self::Arith(at, e) => write!(f, "{e} at byte {at}"),
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: u32,
}

impl Parser<'_> {
    fn skip_spaces(&mut self) {
        while self.s.get(self.pos).is_some_and(|b| *b == b' ' || *b == b'\t') {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_spaces();
        self.s.get(self.pos).copied()
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH { Err(ExprError::TooDeep(self.pos)) } else { Ok(()) }
    }

    fn expr(&mut self) -> Result<Rational, ExprError> {
        let mut acc = self.term()?;
        while let Some(op @ (b'+' | b'-')) = self.peek() {
            let at = self.pos;
            self.pos += 1;
            let rhs = self.term()?;
            acc = if op == b'+' { acc.checked_add(rhs) } else { acc.checked_sub(rhs) }.map_err(|e| ExprError::Arith(at, e))?;
        }
        Ok(acc)
    }

    fn term(&mut self) -> Result<Rational, ExprError> {
        let mut acc = self.unary()?;
        while let Some(op @ (b'*' | b'/')) = self.peek() {
            let at = self.pos;
            self.pos += 1;
            let rhs = self.unary()?;
            acc = if op == b'*' { acc.checked_mul(rhs) } else { acc.checked_div(rhs) }.map_err(|e| ExprError::Arith(at, e))?;
        }
        Ok(acc)
    }

    fn power(&mut self) -> Result<Rational, ExprError> {
        let base = self.primary()?;
        if self.peek() != Some(b'^') {
            return Ok(base);
        }
        let at = self.pos;
        self.pos += 1;
        self.enter()?;
        let exp_at = {
            self.skip_spaces();
            self.pos
        };
        let exp = self.unary()?;
        self.depth -= 1;
        if !exp.is_integer() {
            return Err(ExprError::ExponentNotInteger(exp_at));
        }
        if exp.numer().unsigned_abs() > MAX_EXPONENT.unsigned_abs() {
            return Err(ExprError::ExponentTooLarge(exp_at));
        }
        // In range by the check above.
        let e = exp.numer() as i32;
        base.pow(e).map_err(|err| ExprError::Arith(at, err))
    }

    fn unary(&mut self) -> Result<Rational, ExprError> {
        match self.peek() {
            Some(b'-') => {
                let at = self.pos;
                self.pos += 1;
                self.enter()?;
                let v = self.unary()?;
                self.depth -= 1;
                v.checked_neg().map_err(|e| ExprError::Arith(at, e))
            }
            _ => self.power(),
        }
    }

    fn primary(&mut self) -> Result<Rational, ExprError> {
        match self.peek() {
            None => Err(ExprError::UnexpectedEnd),
            Some(b'(') => {
                self.pos += 1;
                self.enter()?;
                let v = self.expr()?;
                self.depth -= 1;
                match self.peek() {
                    Some(b')') => {
                        self.pos += 1;
                        Ok(v)
                    }
                    Some(_) => Err(ExprError::UnexpectedChar(self.pos)),
                    None => Err(ExprError::UnexpectedEnd),
                }
            }
            Some(b'0'..=b'9') => {
                let at = self.pos;
                let (v, _, _, used) = decimal_prefix(&self.s[at..]).map_err(|e| ExprError::Arith(at, e))?;
                if self.s[at + used - 1] == b'.' {
                    return Err(ExprError::UnexpectedChar(at + used - 1));
                }
                self.pos += used;
                Ok(v)
            }
            Some(_) => Err(ExprError::UnexpectedChar(self.pos)),
        }
    }
}

/// Evaluates an arithmetic expression exactly.
pub fn evaluate(expr: &str) -> Result<Rational, ExprError> {
    if expr.len() > MAX_EXPR_LEN {
        return Err(ExprError::TooLong);
    }
    let mut p = Parser { s: expr.as_bytes(), pos: 0, depth: 0 };
    if p.peek().is_none() {
        return Err(ExprError::Empty);
    }
    let v = p.expr()?;
    match p.peek() {
        None => Ok(v),
        Some(_) => Err(ExprError::UnexpectedChar(p.pos)),
    }
}

/// Why a check could not be made: the task or the claimed answer is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithCheckError {
    /// The task's expression is malformed.
    Expr(ExprError),
    /// The claimed answer is not a number.
    Claim(ClaimError),
}

impl fmt::Display for ArithCheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Expr(e) => write!(f, "task expression: {e}"),
            Self::Claim(e) => write!(f, "{e}"),
        }
    }
}

/// Checks a claimed answer to `expr` (see [`Claim::matches`] for how rounded decimals count).
pub fn check_arithmetic(expr: &str, claimed: &str) -> Result<CheckOutcome, ArithCheckError> {
    let exact = evaluate(expr).map_err(ArithCheckError::Expr)?;
    Ok(Claim::parse(claimed).map_err(ArithCheckError::Claim)?.check(exact))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn r(n: i128, d: i128) -> Rational {
        Rational::new(n, d).unwrap()
    }

    #[test]
    fn precedence_associativity_and_exactness() {
        assert_eq!(evaluate("1 + 2 * 3").unwrap(), Rational::int(7));
        assert_eq!(evaluate("(1 + 2) * 3").unwrap(), Rational::int(9));
        assert_eq!(evaluate("10 - 4 - 3").unwrap(), Rational::int(3));
        assert_eq!(evaluate("2 ^ 3 ^ 2").unwrap(), Rational::int(512));
        assert_eq!(evaluate("-2 ^ 2").unwrap(), Rational::int(-4), "^ binds tighter than unary minus");
        assert_eq!(evaluate("(-2) ^ 3").unwrap(), Rational::int(-8));
        assert_eq!(evaluate("1 / 3 + 1 / 6").unwrap(), r(1, 2));
        assert_eq!(evaluate("0.1 + 0.2").unwrap(), r(3, 10), "no binary floating point");
        assert_eq!(evaluate("2 ^ -2").unwrap(), r(1, 4));
        assert_eq!(evaluate("--3").unwrap(), Rational::int(3));
        assert_eq!(evaluate(" 12.5*4 ").unwrap(), Rational::int(50));
    }

    #[test]
    fn malformed_expressions_get_precise_errors() {
        assert_eq!(evaluate(""), Err(ExprError::Empty));
        assert_eq!(evaluate("  "), Err(ExprError::Empty));
        assert_eq!(evaluate("1 +"), Err(ExprError::UnexpectedEnd));
        assert_eq!(evaluate("1 + x"), Err(ExprError::UnexpectedChar(4)));
        assert_eq!(evaluate("(1 + 2"), Err(ExprError::UnexpectedEnd));
        assert_eq!(evaluate("1 + 2)"), Err(ExprError::UnexpectedChar(5)));
        assert_eq!(evaluate("1 2"), Err(ExprError::UnexpectedChar(2)));
        assert_eq!(evaluate("1."), Err(ExprError::UnexpectedChar(1)));
        assert_eq!(evaluate("4 / (2 - 2)"), Err(ExprError::Arith(2, ArithError::DivisionByZero)));
        assert_eq!(evaluate("2 ^ 0.5"), Err(ExprError::ExponentNotInteger(4)));
        assert_eq!(evaluate("2 ^ 1000"), Err(ExprError::ExponentTooLarge(4)));
        assert_eq!(evaluate("10 ^ 200"), Err(ExprError::Arith(3, ArithError::Overflow)));
        assert_eq!(evaluate("170141183460469231731687303715884105727 + 1"), Err(ExprError::Arith(40, ArithError::Overflow)));
        assert_eq!(evaluate(&"1+".repeat(200)), Err(ExprError::TooLong));
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{}1{}", "(".repeat(32), ")".repeat(32));
        assert_eq!(evaluate(&ok).unwrap(), Rational::ONE);
        let deep = format!("{}1{}", "(".repeat(33), ")".repeat(33));
        assert_eq!(evaluate(&deep), Err(ExprError::TooDeep(33)));
        assert!(matches!(evaluate(&"-".repeat(40)), Err(ExprError::TooDeep(_))));
        assert!(matches!(evaluate(&format!("{}1", "1^".repeat(60))), Err(ExprError::TooDeep(_))));
    }

    #[test]
    fn checker_catches_wrong_answers() {
        assert_eq!(check_arithmetic("17 * 23", "391"), Ok(CheckOutcome::Pass));
        assert_eq!(check_arithmetic("17 * 23", "392"), Ok(CheckOutcome::Fail(Rational::int(391))));
        assert_eq!(check_arithmetic("1 / 3", "0.3333"), Ok(CheckOutcome::Pass));
        assert_eq!(check_arithmetic("1 / 3", "0.33"), Ok(CheckOutcome::Fail(r(1, 3))));
        assert_eq!(check_arithmetic("1 / 3", "1/3"), Ok(CheckOutcome::Pass));
        assert_eq!(check_arithmetic("1 +", "1"), Err(ArithCheckError::Expr(ExprError::UnexpectedEnd)));
        assert_eq!(check_arithmetic("1 + 1", "two"), Err(ArithCheckError::Claim(ClaimError::UnexpectedChar(0))));
    }

    #[test]
    fn every_byte_string_is_answered_without_panic() {
        // A cheap exhaustive sweep over short inputs of the grammar's alphabet.
        let alphabet = b"0123456789.+-*/^() x";
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    for d in alphabet {
                        let buf = [*a, *b, *c, *d];
                        let _ = evaluate(core::str::from_utf8(&buf).unwrap());
                    }
                }
            }
        }
    }
}
