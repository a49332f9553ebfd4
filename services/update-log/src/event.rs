//! Update events, the entries of the log, and their byte encoding.
//!
//! An encoded entry is the format byte [`ENTRY_FORMAT_V1`] followed by the postcard encoding of
//! an [`UpdateEvent`]. Postcard is deterministic for these types (no maps, no floats); decoding
//! re-encodes and compares, so every event has exactly one accepted byte string and the leaf
//! hash of an event is well defined.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::hash::Hash;

/// First byte of every encoded entry: version 1 of the entry format.
const ENTRY_FORMAT_V1: u8 = 1;

/// Largest encoded entry accepted or produced, in bytes.
pub const MAX_ENTRY_LEN: usize = 4096;

/// What happened to a module in a shadow-execution slot (DESIGN.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// A verified bundle was installed into a slot as a challenger.
    Install,
    /// A challenger was promoted to incumbent.
    Promote,
    /// A slot was rolled back to its previous incumbent.
    Rollback,
}

/// One entry of the update log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateEvent {
    /// What happened.
    pub kind: EventKind,
    /// When, in milliseconds since the Unix epoch, by the tile's clock.
    pub timestamp_ms: u64,
    /// The shadow-execution slot (service) concerned.
    pub slot: String,
    /// The module's name from its bundle manifest.
    pub module: String,
    /// The module's version from its bundle manifest.
    pub version: String,
    /// SHA-256 of the module's payload (the bundle's content hash): identifies the exact code.
    pub content_hash: Hash,
    /// Free-form reason, e.g. the evidence for a promotion or the trigger of a rollback.
    pub note: String,
}

/// Why an entry could not be encoded or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventError {
    /// The encoded entry would be, or is, longer than [`MAX_ENTRY_LEN`].
    TooLarge,
    /// The entry is empty (no format byte).
    Empty,
    /// The format byte is not one this crate knows.
    UnknownFormat(u8),
    /// The bytes after the format byte are not a postcard-encoded event (or, when encoding,
    /// postcard refused the event, which these types never cause).
    Malformed,
    /// The bytes decode, but are not the canonical encoding of the decoded event (trailing
    /// bytes, over-long integers).
    NonCanonical,
}

impl core::fmt::Display for EventError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TooLarge => f.write_str("entry longer than the maximum"),
            Self::Empty => f.write_str("empty entry"),
            Self::UnknownFormat(v) => write!(f, "unknown entry format {v}"),
            Self::Malformed => f.write_str("malformed entry"),
            Self::NonCanonical => f.write_str("entry is not canonically encoded"),
        }
    }
}

impl core::error::Error for EventError {}

impl UpdateEvent {
    /// Encodes the event as a log entry.
    pub fn encode(&self) -> Result<Vec<u8>, EventError> {
        let mut out = Vec::from([ENTRY_FORMAT_V1]);
        out = postcard::to_extend(self, out).map_err(|_| EventError::Malformed)?;
        if out.len() > MAX_ENTRY_LEN {
            return Err(EventError::TooLarge);
        }
        Ok(out)
    }

    /// Decodes a log entry, accepting only the canonical encoding.
    pub fn decode(entry: &[u8]) -> Result<Self, EventError> {
        if entry.len() > MAX_ENTRY_LEN {
            return Err(EventError::TooLarge);
        }
        let (&format, body) = entry.split_first().ok_or(EventError::Empty)?;
        if format != ENTRY_FORMAT_V1 {
            return Err(EventError::UnknownFormat(format));
        }
        let event: UpdateEvent = postcard::from_bytes(body).map_err(|_| EventError::Malformed)?;
        if event.encode()? != entry {
            return Err(EventError::NonCanonical);
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn event() -> UpdateEvent {
        UpdateEvent {
            kind: EventKind::Promote,
            timestamp_ms: 1_700_000_000_000,
            slot: "netstack".to_string(),
            module: "netstack-tcp".to_string(),
            version: "1.4.2".to_string(),
            content_hash: [7; 32],
            note: "10000 agreeing requests, 0 faults".to_string(),
        }
    }

    #[test]
    fn roundtrip() {
        let bytes = event().encode().unwrap();
        assert_eq!(bytes[0], ENTRY_FORMAT_V1);
        assert_eq!(UpdateEvent::decode(&bytes).unwrap(), event());
    }

    #[test]
    fn rejects_bad_entries() {
        let bytes = event().encode().unwrap();
        assert_eq!(UpdateEvent::decode(&[]), Err(EventError::Empty));
        let mut b = bytes.clone();
        b[0] = 2;
        assert_eq!(UpdateEvent::decode(&b), Err(EventError::UnknownFormat(2)));
        let mut b = bytes.clone();
        b.push(0);
        assert_eq!(UpdateEvent::decode(&b), Err(EventError::NonCanonical));
        for len in 1..bytes.len() {
            assert!(UpdateEvent::decode(&bytes[..len]).is_err(), "prefix {len}");
        }
        assert_eq!(UpdateEvent::decode(&[0u8; MAX_ENTRY_LEN + 1]), Err(EventError::TooLarge));
    }

    #[test]
    fn overlong_varint_is_non_canonical() {
        let bytes = event().encode().unwrap();
        // Byte 1 is the kind (variant index 1 = Promote); 0x81 0x00 is an over-long 1.
        assert_eq!(bytes[1], 1);
        let mut b = Vec::from(&bytes[..1]);
        b.extend_from_slice(&[0x81, 0x00]);
        b.extend_from_slice(&bytes[2..]);
        assert!(UpdateEvent::decode(&b).is_err());
    }

    #[test]
    fn oversized_event_is_not_encoded() {
        let mut e = event();
        e.note = "x".repeat(MAX_ENTRY_LEN);
        assert_eq!(e.encode(), Err(EventError::TooLarge));
    }
}
