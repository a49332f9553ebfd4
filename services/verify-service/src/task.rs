//! A class-A query read as the task its checker judges. Two forms, those of the tile's T1
//! topics: a conversion `N FROM in TO` (also `convert N FROM to TO`), and otherwise an
//! arithmetic expression (an optional leading `what is` and trailing `?` are dropped).
//! A query that is neither cannot be checked: the gate then has no class-A route for it,
//! and [`TaskError`] says why.

use core::fmt;

use tileos_verify::arith::{CheckOutcome, ExprError, evaluate};
use tileos_verify::claim::Claim;
use tileos_verify::rational::Rational;
use tileos_verify::units::convert;

/// Why a query cannot be read as a class-A task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskError {
    /// The conversion's value is not a number.
    Value,
    /// The conversion names a unit the checker does not know, or incompatible units.
    Units,
    /// The conversion overflows the checker's exact arithmetic.
    Overflow,
    /// The query is not an expression the arithmetic checker reads (its error).
    Expr(ExprError),
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value => f.write_str("conversion value is not a number"),
            Self::Units => f.write_str("conversion units unknown to the checker or of different dimensions"),
            Self::Overflow => f.write_str("conversion overflows the checker's exact arithmetic"),
            Self::Expr(e) => write!(f, "not a checkable expression: {e}"),
        }
    }
}

/// The exact value a class-A query asks for.
pub fn exact_value(query: &str) -> Result<Rational, TaskError> {
    let q = query.trim();
    if let Some((value, from, to)) = conversion(q) {
        let v = Claim::parse(value).map_err(|_| TaskError::Value)?.value;
        return convert(v, from, to).map_err(|e| match e {
            tileos_verify::units::UnitError::Arith(_) => TaskError::Overflow,
            _ => TaskError::Units,
        });
    }
    let q = q.strip_prefix("what is").unwrap_or(q);
    let q = q.strip_suffix('?').unwrap_or(q);
    evaluate(q.trim()).map_err(TaskError::Expr)
}

/// Judges `answer` against the query's exact value: an answer that is not a number fails
/// (it is wrong, not an error), as the canaries count it.
pub fn check(query: &str, answer: &str) -> Result<CheckOutcome, TaskError> {
    let exact = exact_value(query)?;
    Ok(match Claim::parse(answer.trim()) {
        Ok(claim) => claim.check(exact),
        Err(_) => CheckOutcome::Fail(exact),
    })
}

/// `N FROM in TO` or `convert N FROM to TO`, as (value, from, to).
fn conversion(q: &str) -> Option<(&str, &str, &str)> {
    let mut words = q.split_ascii_whitespace();
    let first = words.next()?;
    let (value, joiner) = if first.eq_ignore_ascii_case("convert") { (words.next()?, "to") } else { (first, "in") };
    let (from, join, to) = (words.next()?, words.next()?, words.next()?);
    (join.eq_ignore_ascii_case(joiner) && words.next().is_none()).then_some((value, from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tiles_t1_forms_are_read_and_checked() {
        assert_eq!(check("12+7", "19"), Ok(CheckOutcome::Pass));
        assert_eq!(check("what is 12 + 7?", "19"), Ok(CheckOutcome::Pass));
        assert_eq!(check("49-3", "45"), Ok(CheckOutcome::Fail(Rational::int(46))));
        assert_eq!(check("5 km in m", "5000"), Ok(CheckOutcome::Pass));
        assert_eq!(check("convert 3 h to min", "180"), Ok(CheckOutcome::Pass));
        assert_eq!(check("7 kg in g", "700"), Ok(CheckOutcome::Fail(Rational::int(7000))));
        assert_eq!(check("1+1", "approved"), Ok(CheckOutcome::Fail(Rational::int(2))), "a non-number is wrong");
    }

    #[test]
    fn unreadable_queries_say_why() {
        assert_eq!(check("5 parsec in m", "1"), Err(TaskError::Units));
        assert_eq!(check("5 km in kg", "1"), Err(TaskError::Units));
        assert_eq!(check("x km in m", "1"), Err(TaskError::Value));
        assert!(matches!(check("may we share the site plans?", "no"), Err(TaskError::Expr(_))));
        assert!(matches!(check("", "1"), Err(TaskError::Expr(ExprError::Empty))));
    }
}
