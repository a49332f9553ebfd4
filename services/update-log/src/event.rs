//! Update events, the entries of the log, and their byte encoding.
//!
//! An encoded entry is a format byte followed by the postcard encoding of an [`UpdateEvent`].
//! Postcard is deterministic for these types (no maps, no floats); decoding re-encodes and
//! compares, so every event has exactly one accepted byte string and the leaf hash of an event
//! is well defined.
//!
//! Versioning: the format byte says which kinds the entry may hold. Format 1 holds the first
//! three kinds (`Install`, `Promote`, `Rollback`, variant indices 0–2, no data); format 2 holds
//! the kinds added later (`LineageReplaced`, `ManagerStarted`, indices 3–4, with data). The
//! struct's fields did not change and postcard encodes an enum as its variant index then the
//! variant's fields, so a format-1 entry written before the new kinds existed decodes to the
//! same event and re-encodes to the same bytes (its leaf hash is unchanged: old logs verify).
//! The encoder picks the format from the kind, so an entry of a new kind under format byte 1
//! (or an old kind under 2) is not canonical and is refused; a reader that knows only format 1
//! refuses a new kind's entry as `UnknownFormat(2)`, not as a malformed one.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::hash::Hash;

/// First byte of an entry of the first three kinds: version 1 of the entry format.
const ENTRY_FORMAT_V1: u8 = 1;

/// First byte of an entry of a kind added in version 2 ([`EventKind::LineageReplaced`],
/// [`EventKind::ManagerStarted`]).
const ENTRY_FORMAT_V2: u8 = 2;

/// Largest encoded entry accepted or produced, in bytes.
pub const MAX_ENTRY_LEN: usize = 4096;

/// What happened to a module in a shadow-execution slot (DESIGN.md §6).
///
/// New kinds are only ever added at the end (their variant index is part of the encoding).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// A verified bundle was installed into a slot as a challenger (and, with a note starting
    /// "refused", a refusal of a state-changing request).
    Install,
    /// A challenger was promoted to incumbent.
    Promote,
    /// A slot was rolled back to its previous incumbent.
    Rollback,
    /// N-version mode: lineage position `lineage` dissented `dissents` times (past the slot's
    /// `replace_after`) and was replaced by the slot's fallback. The entry's `module`,
    /// `version` and `content_hash` are the fallback's (the module that now answers in that
    /// position, as a promotion's are the promoted module's); `replaced` is the module that
    /// left.
    LineageReplaced {
        /// The lineage position (0, 1 or 2).
        lineage: u8,
        /// The dissents that replaced it (`replace_after + 1`).
        dissents: u32,
        /// The module replaced.
        replaced: ModuleRef,
    },
    /// The slot manager started again (its domain restarted, `generation` ≥ 1), or started
    /// at a boot (`generation` 0) whose reloaded log names a promoted module serving (not
    /// kept across a reboot), after it reloaded the `reloaded` entries before this one and
    /// decoded every one of them. What the manager held in memory (challengers, evidence, a
    /// promotion or a rollback window, the journal) is gone: the slot serves its built-in
    /// incumbent (or lineages) again, or the settled promoted module it kept serving (a
    /// restart) or started again from its program on the store (a boot). The entry's
    /// `module` is the one that serves.
    ManagerStarted {
        /// The manager domain's generation (its restarts since boot).
        generation: u64,
        /// Entries reloaded from the store (this entry's index).
        reloaded: u64,
        /// Seats the slot has.
        seats: u8,
    },
}

impl EventKind {
    /// The kind's name in `tilectl log`: `install`, `promote`, `rollback`,
    /// `lineage-replaced`, `manager-started`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Install => "install",
            Self::Promote => "promote",
            Self::Rollback => "rollback",
            Self::LineageReplaced { .. } => "lineage-replaced",
            Self::ManagerStarted { .. } => "manager-started",
        }
    }

    /// The entry format that holds this kind.
    fn format(&self) -> u8 {
        match self {
            Self::Install | Self::Promote | Self::Rollback => ENTRY_FORMAT_V1,
            Self::LineageReplaced { .. } | Self::ManagerStarted { .. } => ENTRY_FORMAT_V2,
        }
    }
}

/// A module named in an entry besides the entry's own (e.g. the lineage a fallback replaced).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRef {
    /// The module's name.
    pub module: String,
    /// Its version (empty for a program built into the image).
    pub version: String,
    /// SHA-256 of its payload (all zero for a program built into the image: it came in no
    /// bundle).
    pub content_hash: Hash,
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
        let mut out = Vec::from([self.kind.format()]);
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
        if format != ENTRY_FORMAT_V1 && format != ENTRY_FORMAT_V2 {
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
        b[0] = 3;
        assert_eq!(UpdateEvent::decode(&b), Err(EventError::UnknownFormat(3)));
        // An old kind under the new format byte is not canonical.
        let mut b = bytes.clone();
        b[0] = ENTRY_FORMAT_V2;
        assert_eq!(UpdateEvent::decode(&b), Err(EventError::NonCanonical));
        let mut b = bytes.clone();
        b.push(0);
        assert_eq!(UpdateEvent::decode(&b), Err(EventError::NonCanonical));
        for len in 1..bytes.len() {
            assert!(UpdateEvent::decode(&bytes[..len]).is_err(), "prefix {len}");
        }
        assert_eq!(UpdateEvent::decode(&[0u8; MAX_ENTRY_LEN + 1]), Err(EventError::TooLarge));
    }

    fn lineage_event() -> UpdateEvent {
        UpdateEvent {
            kind: EventKind::LineageReplaced {
                lineage: 2,
                dissents: 501,
                replaced: ModuleRef { module: "checksum-wrong".to_string(), version: String::new(), content_hash: [0; 32] },
            },
            timestamp_ms: 12,
            slot: "checksum".to_string(),
            module: "checksum-fast".to_string(),
            version: String::new(),
            content_hash: [0; 32],
            note: "501 dissents".to_string(),
        }
    }

    /// A format-1 entry as the crate wrote it before the format-2 kinds existed (a rollback;
    /// the bytes are fixed here, not produced by today's encoder).
    const OLD_ROLLBACK: &[u8] = &[
        1, 2, 5, 1, b'a', 1, b'm', 1, b'v', 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        0,
    ];

    #[test]
    fn an_entry_written_before_format_2_decodes_and_keeps_its_bytes() {
        let event = UpdateEvent::decode(OLD_ROLLBACK).unwrap();
        assert_eq!(event.kind, EventKind::Rollback);
        assert_eq!((event.timestamp_ms, event.slot.as_str(), event.module.as_str(), event.version.as_str()), (5, "a", "m", "v"));
        assert_eq!(event.content_hash, [1; 32]);
        assert_eq!(event.encode().unwrap(), OLD_ROLLBACK, "re-encoded to the same bytes: the same leaf hash");
    }

    #[test]
    fn the_new_kinds_use_format_2_and_round_trip() {
        for event in [
            lineage_event(),
            UpdateEvent {
                kind: EventKind::ManagerStarted { generation: 3, reloaded: 7, seats: 4 },
                note: String::new(),
                ..lineage_event()
            },
        ] {
            let bytes = event.encode().unwrap();
            assert_eq!(bytes[0], ENTRY_FORMAT_V2);
            assert_eq!(UpdateEvent::decode(&bytes).unwrap(), event);
            // Under format byte 1 the same body is refused: format 1 has no such kind.
            let mut b = bytes.clone();
            b[0] = ENTRY_FORMAT_V1;
            assert_eq!(UpdateEvent::decode(&b), Err(EventError::NonCanonical));
            for len in 1..bytes.len() {
                assert!(UpdateEvent::decode(&bytes[..len]).is_err(), "prefix {len}");
            }
        }
        // An unknown variant index (5) is malformed.
        let mut b = lineage_event().encode().unwrap();
        b[1] = 5;
        assert_eq!(UpdateEvent::decode(&b), Err(EventError::Malformed));
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
