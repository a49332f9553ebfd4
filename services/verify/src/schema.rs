//! Class-A checker for structured answers: a schema of typed fields and [`check_record`],
//! which validates an answer written as `key=value` pairs separated by `;` or newlines.
//!
//! The schema is the caller's (static or long-lived); the check borrows names from the schema
//! and the answer for its errors and allocates nothing.

use core::fmt;

use crate::claim::Claim;
use crate::rational::Rational;

/// The most fields a schema may have (seen fields are tracked in a 64-bit mask).
pub const MAX_FIELDS: usize = 64;
/// The longest record accepted, in bytes.
pub const MAX_RECORD_LEN: usize = 4096;

/// The type of one field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// A number (integer, decimal or fraction) within `[min, max]`.
    Number {
        /// Smallest allowed value.
        min: Rational,
        /// Largest allowed value.
        max: Rational,
        /// Whether only integers are allowed.
        integer: bool,
    },
    /// Free text of at most this many bytes, without `;`, `=` or control characters.
    Text(usize),
    /// `true` or `false`.
    Bool,
    /// One of a fixed set of words.
    OneOf(&'static [&'static str]),
}

/// One field of a schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The key.
    pub name: &'static str,
    /// The value's type.
    pub kind: FieldKind,
    /// Whether the field must be present.
    pub required: bool,
}

/// A schema: the fields a record may and must have.
#[derive(Clone, Copy, Debug)]
pub struct Schema {
    /// The schema's fields (at most [`MAX_FIELDS`], unique names).
    pub fields: &'static [Field],
}

/// Why a record does not satisfy its schema; names are borrowed from schema or record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaError<'a> {
    /// The schema itself is invalid: too many fields or a duplicate name.
    BadSchema(&'static str),
    /// The record is longer than [`MAX_RECORD_LEN`].
    TooLong,
    /// The pair at this (zero-based) position has no `=` or an empty key.
    MalformedPair(usize),
    /// A key the schema does not define.
    UnknownField(&'a str),
    /// A key given twice.
    DuplicateField(&'a str),
    /// A required key that is absent.
    MissingField(&'static str),
    /// A value that is not of the field's type.
    WrongType(&'static str),
    /// A number outside the field's range or not an integer where one is required.
    OutOfRange(&'static str),
    /// Text longer than the field allows or containing a control character.
    BadText(&'static str),
    /// A word that is not one of the field's allowed words.
    NotAllowed(&'static str),
}

impl fmt::Display for SchemaError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadSchema(name) => write!(f, "schema invalid at field '{name}' (duplicate or more than {MAX_FIELDS} fields)"),
            Self::TooLong => write!(f, "record longer than {MAX_RECORD_LEN} bytes"),
            Self::MalformedPair(i) => write!(f, "pair {i} is not key=value"),
            Self::UnknownField(k) => write!(f, "unknown field '{k}'"),
            Self::DuplicateField(k) => write!(f, "field '{k}' given twice"),
            Self::MissingField(k) => write!(f, "required field '{k}' missing"),
            Self::WrongType(k) => write!(f, "field '{k}' has a value of the wrong type"),
            Self::OutOfRange(k) => write!(f, "field '{k}' out of range"),
            Self::BadText(k) => write!(f, "field '{k}' text too long or has control characters"),
            Self::NotAllowed(k) => write!(f, "field '{k}' is not one of its allowed words"),
        }
    }
}

impl Schema {
    /// Checks the schema itself: at most [`MAX_FIELDS`] fields with unique names.
    pub fn validate(&self) -> Result<(), SchemaError<'static>> {
        for (i, a) in self.fields.iter().enumerate() {
            if i >= MAX_FIELDS || self.fields[..i].iter().any(|b| b.name == a.name) {
                return Err(SchemaError::BadSchema(a.name));
            }
        }
        Ok(())
    }
}

fn check_value(field: &Field, value: &str) -> Result<(), SchemaError<'static>> {
    match field.kind {
        FieldKind::Number { min, max, integer } => {
            let v = Claim::parse(value).map_err(|_| SchemaError::WrongType(field.name))?.value;
            if v < min || v > max || (integer && !v.is_integer()) {
                return Err(SchemaError::OutOfRange(field.name));
            }
        }
        FieldKind::Text(max) => {
            if value.len() > max || value.chars().any(char::is_control) {
                return Err(SchemaError::BadText(field.name));
            }
        }
        FieldKind::Bool => {
            if value != "true" && value != "false" {
                return Err(SchemaError::WrongType(field.name));
            }
        }
        FieldKind::OneOf(words) => {
            if !words.contains(&value) {
                return Err(SchemaError::NotAllowed(field.name));
            }
        }
    }
    Ok(())
}

/// Checks a `key=value;key=value` record against a schema. Spaces around keys and values
/// are ignored; empty pairs (a trailing `;`, blank lines) are skipped.
pub fn check_record<'a>(schema: &Schema, record: &'a str) -> Result<(), SchemaError<'a>> {
    schema.validate()?;
    if record.len() > MAX_RECORD_LEN {
        return Err(SchemaError::TooLong);
    }
    let mut seen = 0u64;
    for (i, pair) in record.split([';', '\n']).map(str::trim).filter(|p| !p.is_empty()).enumerate() {
        let (key, value) = pair.split_once('=').ok_or(SchemaError::MalformedPair(i))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(SchemaError::MalformedPair(i));
        }
        let index = schema.fields.iter().position(|f| f.name == key).ok_or(SchemaError::UnknownField(key))?;
        if seen & (1 << index) != 0 {
            return Err(SchemaError::DuplicateField(key));
        }
        seen |= 1 << index;
        check_value(&schema.fields[index], value.trim())?;
    }
    match schema.fields.iter().enumerate().find(|(i, f)| f.required && seen & (1 << i) == 0) {
        Some((_, f)) => Err(SchemaError::MissingField(f.name)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHASES: &[&str] = &["single", "three"];
    const SUPPLY: Schema = Schema {
        fields: &[
            Field {
                name: "voltage",
                kind: FieldKind::Number { min: Rational::int(0), max: Rational::int(1000), integer: false },
                required: true,
            },
            Field { name: "phase", kind: FieldKind::OneOf(PHASES), required: true },
            Field { name: "grounded", kind: FieldKind::Bool, required: false },
            Field { name: "note", kind: FieldKind::Text(16), required: false },
            Field {
                name: "poles",
                kind: FieldKind::Number { min: Rational::int(1), max: Rational::int(4), integer: true },
                required: false,
            },
        ],
    };

    #[test]
    fn accepts_valid_records() {
        assert_eq!(check_record(&SUPPLY, "voltage=230; phase=single"), Ok(()));
        assert_eq!(check_record(&SUPPLY, "phase = three\nvoltage = 400.5\ngrounded=true;poles=3;note=ok;"), Ok(()));
    }

    #[test]
    fn rejects_each_violation_by_name() {
        assert_eq!(check_record(&SUPPLY, "phase=single"), Err(SchemaError::MissingField("voltage")));
        assert_eq!(check_record(&SUPPLY, "voltage=230;phase=single;colour=red"), Err(SchemaError::UnknownField("colour")));
        assert_eq!(check_record(&SUPPLY, "voltage=230;voltage=240;phase=single"), Err(SchemaError::DuplicateField("voltage")));
        assert_eq!(check_record(&SUPPLY, "voltage=high;phase=single"), Err(SchemaError::WrongType("voltage")));
        assert_eq!(check_record(&SUPPLY, "voltage=-5;phase=single"), Err(SchemaError::OutOfRange("voltage")));
        assert_eq!(check_record(&SUPPLY, "voltage=5;phase=single;poles=2.5"), Err(SchemaError::OutOfRange("poles")));
        assert_eq!(check_record(&SUPPLY, "voltage=5;phase=two"), Err(SchemaError::NotAllowed("phase")));
        assert_eq!(check_record(&SUPPLY, "voltage=5;phase=single;grounded=yes"), Err(SchemaError::WrongType("grounded")));
        assert_eq!(check_record(&SUPPLY, "voltage=5;phase=single;note=much too long a note"), Err(SchemaError::BadText("note")));
        assert_eq!(check_record(&SUPPLY, "voltage=5;phase"), Err(SchemaError::MalformedPair(1)));
        assert_eq!(check_record(&SUPPLY, "=5"), Err(SchemaError::MalformedPair(0)));
        assert_eq!(check_record(&SUPPLY, &"a".repeat(MAX_RECORD_LEN + 1)), Err(SchemaError::TooLong));
    }

    #[test]
    fn duplicate_schema_fields_are_refused() {
        const BAD: Schema = Schema {
            fields: &[
                Field { name: "a", kind: FieldKind::Bool, required: false },
                Field { name: "a", kind: FieldKind::Bool, required: false },
            ],
        };
        assert_eq!(check_record(&BAD, "a=true"), Err(SchemaError::BadSchema("a")));
    }
}
