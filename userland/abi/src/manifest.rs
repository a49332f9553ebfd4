//! The capability manifest of a program: what it requires from the description that runs it.
//!
//! A program built with `tileos_sys::resources!` carries, in the ELF section
//! [`SECTION`], one record per capability its resources struct names (encoded by
//! [`encode`] at compile time). The image builder reads the section and refuses a
//! description that does not grant every domain running the program each *required*
//! capability ("domain stops at boot with 'no endpoint'" becomes a build error naming the
//! description's line). Programs without the section (the drivers, for now) are not checked.
//!
//! Encoding: the [`MAGIC`] bytes, then per record: kind byte ([`Kind`]), flags byte
//! ([`OPTIONAL`]), name length byte, name bytes (UTF-8, at most [`MAX_NAME`]). Several
//! records blocks (several `resources!` in one program) may follow each other in the
//! section: each starts with the magic.

/// Name of the ELF section holding the manifest (not loaded: `userland/user.ld` keeps it as
/// a non-allocated section).
pub const SECTION: &str = ".tileos.requires";
/// First bytes of every manifest block.
pub const MAGIC: &[u8; 8] = b"TLREQv1\0";
/// Flag: the program runs without this capability (it is listed, not checked).
pub const OPTIONAL: u8 = 1;
/// Longest capability name (as on the information page).
pub const MAX_NAME: usize = 31;

/// What a program requires; the numbers of the capability kinds are those of
/// [`crate::bootinfo::domain_info::CapKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// An endpoint the domain serves (`[[endpoint]] server`).
    ServedEndpoint = 1,
    /// An endpoint the domain calls (`[[endpoint]] clients`).
    ClientEndpoint = 2,
    /// A notification the domain waits on (`[[notification]] waiter`).
    WaitNotification = 3,
    /// A notification the domain signals (`[[notification]] signallers`).
    SignalNotification = 4,
    /// An IRQ handler, named "irq" and the pin (`[[irq]]`).
    IrqHandler = 5,
    /// An IO port range, named by its first port in hex, e.g. "0x3f8" (`[[ioport]]`).
    IoPort = 6,
    /// A memory region of the information page: a `[[shared_region]]` mapping or
    /// `[[device_memory]]`.
    Region = 16,
}

impl Kind {
    /// The kind of a byte of the manifest.
    pub const fn from_byte(byte: u8) -> Option<Kind> {
        Some(match byte {
            1 => Kind::ServedEndpoint,
            2 => Kind::ClientEndpoint,
            3 => Kind::WaitNotification,
            4 => Kind::SignalNotification,
            5 => Kind::IrqHandler,
            6 => Kind::IoPort,
            16 => Kind::Region,
            _ => return None,
        })
    }

    /// Words for messages: "served endpoint", "IO port range", ….
    pub const fn describe(self) -> &'static str {
        match self {
            Kind::ServedEndpoint => "served endpoint",
            Kind::ClientEndpoint => "client endpoint",
            Kind::WaitNotification => "notification to wait on",
            Kind::SignalNotification => "notification to signal",
            Kind::IrqHandler => "IRQ handler",
            Kind::IoPort => "IO port range",
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
        out[at] = r.kind as u8;
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
        Requirement { kind: Kind::ServedEndpoint, name: "echo", optional: false },
        Requirement { kind: Kind::WaitNotification, name: "spinning", optional: true },
        Requirement { kind: Kind::IoPort, name: "0x3f8", optional: false },
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
        assert_eq!(out.len(), 6);
        assert_eq!(&out[..3], REQS);
        assert_eq!(&out[3..], REQS);
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
