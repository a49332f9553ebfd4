//! The capability manifest of a program: what it requires from the description that runs it.
//!
//! A program built with `tileos_sys::resources!` carries, in the ELF section
//! [`SECTION`], one record per capability its resources struct names (encoded by
//! [`encode`] at compile time). The image builder reads the section and refuses a
//! description that does not grant every domain running the program each *required*
//! capability ("domain stops at boot with 'no endpoint'" becomes a build error naming the
//! description's line). Programs without the section (those that still write their own
//! `_start`: docs/architecture.md, "Writing a service") are not checked.
//!
//! Encoding: the [`MAGIC`] bytes, then per record: kind byte ([`Kind::byte`]), flags byte
//! ([`OPTIONAL`]), name length byte, name bytes (UTF-8, at most [`MAX_NAME`]). Several
//! records blocks (several `resources!` in one program) may follow each other in the
//! section: each starts with the magic.

use crate::bootinfo::domain_info::CapKind;

/// Name of the ELF section holding the manifest (not loaded: `userland/user.ld` keeps it as
/// a non-allocated section).
pub const SECTION: &str = ".tileos.requires";
/// First bytes of every manifest block.
pub const MAGIC: &[u8; 8] = b"TLREQv1\0";
/// Flag: the program runs without this capability (it is listed, not checked).
pub const OPTIONAL: u8 = 1;
/// Longest capability name (as on the information page).
pub const MAX_NAME: usize = 31;

/// Kind byte of a [`Kind::Region`] record (the capability kinds' bytes are their
/// [`CapKind`] numbers, 1 to 6).
pub const REGION: u8 = 16;

/// What a program requires: one of the capabilities the information page lists (by the
/// page's own [`CapKind`], so the two cannot drift apart), or one of its memory regions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A capability (`[[endpoint]]`, `[[notification]]`, `[[irq]]`, `[[ioport]]`).
    Cap(CapKind),
    /// A memory region of the information page: a `[[shared_region]]` mapping or
    /// `[[device_memory]]`.
    Region,
}

impl Kind {
    /// The record's kind byte: the [`CapKind`] number, or [`REGION`].
    pub const fn byte(self) -> u8 {
        match self {
            Kind::Cap(kind) => kind as u8,
            Kind::Region => REGION,
        }
    }

    /// The kind of a byte of the manifest.
    pub const fn from_byte(byte: u8) -> Option<Kind> {
        if byte == REGION {
            return Some(Kind::Region);
        }
        match CapKind::from_byte(byte) {
            Some(kind) => Some(Kind::Cap(kind)),
            None => None,
        }
    }

    /// Words for messages: "served endpoint", "IO port range", ….
    pub const fn describe(self) -> &'static str {
        match self {
            Kind::Cap(kind) => kind.describe(),
            Kind::Region => "memory region",
        }
    }
}

/// One requirement: kind, name, whether optional.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requirement<'a> {
    /// What kind of capability.
    pub kind: Kind,
    /// Its name in the description (and on the information page).
    pub name: &'a str,
    /// The program runs without it.
    pub optional: bool,
}

/// Bytes [`encode`] writes for `requirements`. Panics (at compile time, in a const) on a
/// name longer than [`MAX_NAME`].
pub const fn encoded_len(requirements: &[Requirement<'_>]) -> usize {
    let mut total = MAGIC.len();
    let mut i = 0;
    while i < requirements.len() {
        let len = requirements[i].name.len();
        assert!(len <= MAX_NAME, "a capability name is at most 31 bytes");
        total += 3 + len;
        i += 1;
    }
    total
}

/// The manifest block of `requirements`; `N` must be [`encoded_len`] of them.
pub const fn encode<const N: usize>(requirements: &[Requirement<'_>]) -> [u8; N] {
    assert!(N == encoded_len(requirements), "N is encoded_len(requirements)");
    let mut out = [0u8; N];
    let mut at = 0;
    while at < MAGIC.len() {
        out[at] = MAGIC[at];
        at += 1;
    }
    let mut i = 0;
    while i < requirements.len() {
        let r = &requirements[i];
        out[at] = r.kind.byte();
        out[at + 1] = if r.optional { OPTIONAL } else { 0 };
        let name = r.name.as_bytes();
        out[at + 2] = name.len() as u8;
        at += 3;
        let mut j = 0;
        while j < name.len() {
            out[at] = name[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    out
}

/// Why a manifest could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// A block does not start with [`MAGIC`].
    BadMagic,
    /// A record runs past the end.
    Truncated,
    /// Unknown kind byte.
    UnknownKind(u8),
    /// A name is not UTF-8 or longer than [`MAX_NAME`].
    BadName,
}

/// Calls `each` with every requirement of the section `bytes` (one or more blocks; zero
/// padding between blocks, which linkers may insert for alignment, is skipped).
pub fn decode<'a>(bytes: &'a [u8], mut each: impl FnMut(Requirement<'a>)) -> Result<(), DecodeError> {
    let mut rest = bytes;
    let mut in_block = false;
    while !rest.is_empty() {
        if rest[0] == 0 {
            rest = &rest[1..];
            in_block = false;
            continue;
        }
        if rest.starts_with(MAGIC) {
            rest = &rest[MAGIC.len()..];
            in_block = true;
            continue;
        }
        if !in_block {
            return Err(DecodeError::BadMagic);
        }
        let [kind, flags, len, tail @ ..] = rest else {
            return Err(DecodeError::Truncated);
        };
        let kind = Kind::from_byte(*kind).ok_or(DecodeError::UnknownKind(*kind))?;
        let len = usize::from(*len);
        if len > MAX_NAME {
            return Err(DecodeError::BadName);
        }
        let name = tail.get(..len).ok_or(DecodeError::Truncated)?;
        let name = core::str::from_utf8(name).map_err(|_| DecodeError::BadName)?;
        each(Requirement { kind, name, optional: flags & OPTIONAL != 0 });
        rest = &tail[len..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    const REQS: &[Requirement<'static>] = &[
        Requirement { kind: Kind::Cap(CapKind::ServedEndpoint), name: "echo", optional: false },
        Requirement { kind: Kind::Cap(CapKind::WaitNotification), name: "spinning", optional: true },
        Requirement { kind: Kind::Cap(CapKind::IoPort), name: "0x3f8", optional: false },
        Requirement { kind: Kind::Region, name: "net-frames", optional: false },
    ];
    const LEN: usize = encoded_len(REQS);
    static BLOCK: [u8; LEN] = encode::<LEN>(REQS);

    #[test]
    fn encode_then_decode_gives_the_requirements_back() {
        let mut twice = BLOCK.to_vec();
        twice.extend_from_slice(&[0, 0, 0]);
        twice.extend_from_slice(&BLOCK);
        let mut out = Vec::new();
        decode(&twice, |r| out.push(r)).expect("decodes");
        assert_eq!(out.len(), 8);
        assert_eq!(&out[..4], REQS);
        assert_eq!(&out[4..], REQS);
    }

    #[test]
    fn kind_bytes_are_the_information_pages_and_unchanged() {
        // The bytes programs already carry: CapKind's numbers 1..=6, regions 16.
        assert_eq!(BLOCK[MAGIC.len()], 1);
        let bytes = [1, 2, 3, 4, 5, 6, 16];
        for byte in bytes {
            assert_eq!(Kind::from_byte(byte).map(Kind::byte), Some(byte));
        }
        assert_eq!(Kind::from_byte(6), Some(Kind::Cap(CapKind::IoPort)));
        assert_eq!(Kind::from_byte(16), Some(Kind::Region));
        assert_eq!(Kind::from_byte(0), None);
        assert_eq!(Kind::from_byte(7), None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(decode(b"xyz", |_| {}), Err(DecodeError::BadMagic));
        let mut cut = BLOCK.to_vec();
        cut.truncate(cut.len() - 1);
        assert_eq!(decode(&cut, |_| {}), Err(DecodeError::Truncated));
        let mut bad = BLOCK.to_vec();
        bad[MAGIC.len()] = 99;
        assert_eq!(decode(&bad, |_| {}), Err(DecodeError::UnknownKind(99)));
    }
}
