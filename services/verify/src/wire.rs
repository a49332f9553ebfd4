//! The canonical byte encoding shared by knowledge writes and ledger entries: big-endian
//! integers, strings and byte strings prefixed with their length, no padding, no optional
//! parts. Decoding names the field at fault and refuses trailing bytes, so each value has
//! exactly one encoding.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Why a byte string does not decode; the `&'static str` names the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The input ended inside this field.
    Truncated(&'static str),
    /// This field is longer than its limit (or, for counts, holds more items than allowed).
    TooLong(&'static str),
    /// This string field is not UTF-8.
    BadUtf8(&'static str),
    /// This field holds a value outside its defined set (an unknown format, tier or code).
    BadValue(&'static str),
    /// Bytes follow the last field.
    Trailing,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated(field) => write!(f, "input ends inside field '{field}'"),
            Self::TooLong(field) => write!(f, "field '{field}' longer than its limit"),
            Self::BadUtf8(field) => write!(f, "field '{field}' is not UTF-8"),
            Self::BadValue(field) => write!(f, "field '{field}' has an undefined value"),
            Self::Trailing => f.write_str("bytes after the last field"),
        }
    }
}

/// Appends canonical fields to a buffer.
pub struct Writer<'a>(pub &'a mut Vec<u8>);

impl Writer<'_> {
    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    /// A big-endian u32.
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    /// A big-endian u64.
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    /// Bytes as they are (fixed-size fields).
    pub fn raw(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v);
    }
    /// A byte string with a u32 length; callers have checked the length against its limit.
    pub fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.raw(v);
    }
}

/// Reads canonical fields from a byte string.
pub struct Reader<'a> {
    /// The bytes not read yet.
    pub s: &'a [u8],
}

impl<'a> Reader<'a> {
    /// The next `n` bytes.
    pub fn raw(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], WireError> {
        if self.s.len() < n {
            return Err(WireError::Truncated(field));
        }
        let (head, tail) = self.s.split_at(n);
        self.s = tail;
        Ok(head)
    }
    /// One byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, WireError> {
        Ok(self.raw(1, field)?[0])
    }
    /// A big-endian u32.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, WireError> {
        let b = self.raw(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A big-endian u64.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, WireError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.raw(8, field)?);
        Ok(u64::from_be_bytes(a))
    }
    /// A fixed-size field.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.raw(N, field)?);
        Ok(a)
    }
    /// A length-prefixed byte string of at most `max` bytes.
    pub fn bytes(&mut self, max: usize, field: &'static str) -> Result<&'a [u8], WireError> {
        let len = self.u32(field)? as usize;
        if len > max {
            return Err(WireError::TooLong(field));
        }
        self.raw(len, field)
    }
    /// A length-prefixed UTF-8 string of at most `max` bytes.
    pub fn string(&mut self, max: usize, field: &'static str) -> Result<String, WireError> {
        let b = self.bytes(max, field)?;
        core::str::from_utf8(b).map(String::from).map_err(|_| WireError::BadUtf8(field))
    }
    /// Succeeds only if every byte was read.
    pub fn finish(&self) -> Result<(), WireError> {
        if self.s.is_empty() { Ok(()) } else { Err(WireError::Trailing) }
    }
}
